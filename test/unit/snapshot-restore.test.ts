/**
 * The restore's refusals without Docker: `restoreRefusal` on its own, and `restoreSnapshot`
 * against a fake cluster (answers from an in-memory table), where every refusal must come before
 * anything changes: no token asked for, no node initialised, stopped or written to, no upload.
 * Then an upload to a local HTTP stand-in for the node, stopped by its AbortSignal.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openAddressedCluster } from '../../src/cluster/running.js';
import { RemoteError, UsageError, type VaultctlError } from '../../src/errors.js';
import { SNAPSHOT_FORMAT, type SnapshotMeta, sealKeyId } from '../../src/snapshot/meta.js';
import { restoreRefusal, restoreSnapshot } from '../../src/snapshot/restore.js';
import { resolveSpec } from '../../src/spec/resolve.js';
import type { ClusterSpec, SpecInput } from '../../src/spec/schema.js';
import { StateDir } from '../../src/state/state-dir.js';
import { fakeSnapshotCluster } from '../helpers/fake-snapshot-cluster.js';
import { RecordingProgress } from '../helpers/progress.js';

let dir: string;
let state: StateDir;
let keyId: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'vaultctl-unit-restore-'));
  state = StateDir.forCluster(join(dir, 'state'), 'unit');
  state.writeFileAtomic(state.sealKeyFile, randomBytes(32));
  keyId = sealKeyId(state)!;
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const specOf = (input: SpecInput = {}): ClusterSpec =>
  resolveSpec({ name: 'unit', tls: { enabled: false }, ...input }).spec;

function metaOf(over: Partial<SnapshotMeta> = {}): SnapshotMeta {
  return {
    format: SNAPSHOT_FORMAT,
    file: 'unit.snap',
    cluster: 'unit',
    clusterId: 'cluster-a',
    flavor: 'openbao',
    version: '2.7.2',
    sealType: 'static',
    createdAt: '2026-11-28T02:00:00.000Z',
    size: 0,
    sha256: '',
    plainSize: 0,
    plainSha256: '',
    encrypted: null,
    ...over,
  };
}

let n = 0;
/** A snapshot file and its sidecar that `verifySnapshot` accepts. */
function writeSnapshot(over: Partial<SnapshotMeta> = {}, body = gzipSync(Buffer.from('raft data'))): string {
  const file = join(dir, `s${++n}.snap`);
  writeFileSync(file, body);
  const sha = createHash('sha256').update(body).digest('hex');
  const size = body.length;
  writeFileSync(
    `${file}.json`,
    JSON.stringify(
      metaOf({ sealKeyId: keyId, size, sha256: sha, plainSize: size, plainSha256: sha, ...over }),
    ),
  );
  return file;
}

async function refused(p: Promise<unknown>): Promise<VaultctlError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'the restore should have been refused').toBeDefined();
  return err as VaultctlError;
}

describe('restoreRefusal', () => {
  const spec = specOf();
  const target = { clusterId: 'cluster-a', sealType: 'static' };

  it('accepts a snapshot of this cluster (same flavor, seal and seal key)', () => {
    expect(restoreRefusal(metaOf({ sealKeyId: keyId }), spec, state, target)).toBeUndefined();
  });

  it('refuses another flavor, even with --force: the storage formats differ', () => {
    expect(restoreRefusal(metaOf({ flavor: 'vault' }), spec, state, target)).toEqual({
      reason: 'the snapshot is from vault, the target runs openbao: their storage formats differ',
      forceable: false,
    });
  });

  it('refuses another seal type, even with --force', () => {
    const why = restoreRefusal(metaOf({ sealType: 'shamir' }), spec, state, target);
    expect(why?.forceable).toBe(false);
    expect(why?.reason).toContain('sealed with the shamir seal, the target uses static');
  });

  it('refuses, forceably, data sealed with another static seal key', () => {
    const why = restoreRefusal(metaOf({ sealKeyId: '0123456789abcdef' }), spec, state, target);
    expect(why?.forceable).toBe(true);
    expect(why?.reason).toContain('another static seal key than this cluster');
  });

  it('accepts an old sidecar without a seal key id', () => {
    expect(restoreRefusal(metaOf(), spec, state, target)).toBeUndefined();
  });

  it('refuses, forceably, a snapshot of another Shamir cluster; not into a fresh one (no id yet)', () => {
    const shamir = specOf({ seal: { type: 'shamir' } });
    const meta = metaOf({ sealType: 'shamir', clusterId: 'cluster-b' });
    const why = restoreRefusal(meta, shamir, state, { clusterId: 'cluster-a', sealType: 'shamir' });
    expect(why?.forceable).toBe(true);
    expect(why?.reason).toContain('another Shamir cluster');
    expect(restoreRefusal(meta, shamir, state, { clusterId: undefined, sealType: 'shamir' })).toBeUndefined();
    expect(
      restoreRefusal(metaOf({ sealType: 'shamir' }), shamir, state, {
        clusterId: 'cluster-a',
        sealType: 'shamir',
      }),
    ).toBeUndefined();
  });
});

describe('restoreSnapshot refuses before it changes anything', () => {
  const progress = new RecordingProgress();
  const restore = (f: ReturnType<typeof fakeSnapshotCluster>, file: string, force = false) =>
    restoreSnapshot(f.cluster, file, {}, { progress }, { force });

  it('a node down: names it, hints `vaultctl up`', async () => {
    const f = fakeSnapshotCluster({ spec: specOf(), state, token: 't', rows: { 'vault-3': { up: false } } });
    const err = await refused(restore(f, writeSnapshot()));
    expect(err).toBeInstanceOf(RemoteError);
    expect(err.message).toBe('node vault-3 does not answer');
    expect(err.hint).toBe('a restore needs every node: `vaultctl up`, then retry. Nothing was changed.');
    expect(f.calls).toEqual([]);
  });

  it('two nodes down, of a fresh cluster too: names both', async () => {
    const f = fakeSnapshotCluster({
      spec: specOf(),
      state,
      rows: {
        'vault-1': { initialized: false, sealed: true, standby: false },
        'vault-2': { up: false },
        'vault-3': { up: false },
      },
    });
    const err = await refused(restore(f, writeSnapshot(), true));
    expect(err.message).toBe('nodes vault-2, vault-3 do not answer');
    expect(f.calls).toEqual([]);
  });

  it('a snapshot from another flavor, even with --force', async () => {
    const f = fakeSnapshotCluster({ spec: specOf(), state, token: 't' });
    const err = await refused(restore(f, writeSnapshot({ flavor: 'vault' }), true));
    expect(err).toBeInstanceOf(UsageError);
    expect(err.message).toContain('the snapshot is from vault, the target runs openbao');
    expect(err.hint).toBe('nothing was changed');
    expect(f.calls).toEqual([]);
  });

  it('a seal type mismatch (the target could not unseal the data)', async () => {
    const f = fakeSnapshotCluster({ spec: specOf(), state, token: 't' });
    const err = await refused(restore(f, writeSnapshot({ sealType: 'transit' })));
    expect(err.message).toContain('sealed with the transit seal, the target uses static');
    expect(err.hint).toBe('nothing was changed');
    expect(f.calls).toEqual([]);
  });

  it('another static seal key without --force: says --force restores anyway', async () => {
    const f = fakeSnapshotCluster({ spec: specOf(), state, token: 't' });
    const err = await refused(restore(f, writeSnapshot({ sealKeyId: '0123456789abcdef' })));
    expect(err).toBeInstanceOf(UsageError);
    expect(err.message).toContain('another static seal key');
    expect(err.hint).toBe(
      '--force restores anyway, when you will provide what is missing. Nothing was changed.',
    );
    expect(f.calls).toEqual([]);
  });

  it('another Shamir cluster (the wrong cluster) without --force', async () => {
    const shamir = specOf({ seal: { type: 'shamir' } });
    const f = fakeSnapshotCluster({ spec: shamir, state, token: 't' });
    const err = await refused(restore(f, writeSnapshot({ sealType: 'shamir', clusterId: 'cluster-b' })));
    expect(err.message).toContain('the snapshot comes from another Shamir cluster');
    expect(err.hint).toContain('--force restores anyway');
    expect(f.calls).toEqual([]);
  });

  it('a fresh cluster and another static seal key: refused before the followers are stopped', async () => {
    const fresh = { initialized: false, sealed: true, standby: false };
    const f = fakeSnapshotCluster({
      spec: specOf(),
      state,
      rows: { 'vault-1': fresh, 'vault-2': fresh, 'vault-3': fresh },
    });
    const err = await refused(restore(f, writeSnapshot({ sealKeyId: '0123456789abcdef' })));
    expect(err.message).toContain('another static seal key');
    expect(err.hint).toBe('--force restores anyway. Nothing was changed.');
    expect(f.calls).toEqual([]);
  });

  it('an initialised cluster without an active node', async () => {
    const sealed = { sealed: true, standby: false };
    const f = fakeSnapshotCluster({
      spec: specOf(),
      state,
      token: 't',
      rows: { 'vault-1': sealed, 'vault-2': sealed, 'vault-3': sealed },
    });
    const err = await refused(restore(f, writeSnapshot()));
    expect(err).toBeInstanceOf(RemoteError);
    expect(err.message).toBe('no active node');
    expect(f.calls).toEqual([]);
  });

  it('no token for a running cluster', async () => {
    const f = fakeSnapshotCluster({ spec: specOf(), state });
    const err = await refused(restore(f, writeSnapshot()));
    expect(err).toBeInstanceOf(UsageError);
    expect(err.message).toBe('no token');
    expect(f.calls).toEqual([]);
  });

  it('an encrypted snapshot without its key, before asking any node', async () => {
    const f = fakeSnapshotCluster({ spec: specOf(), state, token: 't', rows: { 'vault-1': { up: false } } });
    const recipients = ['age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq'];
    const file = writeSnapshot({ encrypted: { format: 'age', recipients } }, randomBytes(64));
    const err = await refused(restore(f, file));
    expect(err).toBeInstanceOf(UsageError);
    expect(err.message).toBe('the snapshot is encrypted to age recipients and no identity was given');
    expect(f.calls).toEqual([]);
  });

  it('a cluster known only by its addresses', async () => {
    const cluster = openAddressedCluster({
      addresses: [{ name: 'a', address: 'http://127.0.0.1:1' }],
      connect: () => {
        throw new Error('not asked');
      },
    });
    const err = await refused(restoreSnapshot(cluster, writeSnapshot(), {}, { progress }));
    expect(err).toBeInstanceOf(UsageError);
    expect(err.message).toContain('needs the cluster vaultctl manages');
  });
});

describe('the upload stops when its signal is aborted (Ctrl-C)', () => {
  let server: Server;
  let port: number;
  const seen: { url?: string; token?: string; bytes: number; closed?: Promise<void> } = { bytes: 0 };

  beforeAll(async () => {
    // A slow node that never answers: it reads the body in small bites, so the upload is still
    // streaming when the abort comes (and, reading, it sees the connection close).
    server = createServer((req: IncomingMessage) => {
      seen.url = req.url;
      seen.token = req.headers['x-vault-token'] as string;
      seen.closed = new Promise((r) => req.on('close', () => r()));
      req.on('data', (c: Buffer) => {
        seen.bytes += c.length;
        req.pause();
        setTimeout(() => req.resume(), 20);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => {
    server.closeAllConnections();
    server.close();
  });

  it('restoreSnapshot passes the signal to the upload: it rejects with an AbortError, the connection is cut', async () => {
    const spec = specOf({
      nodes: [
        { name: 'vault-1', apiPort: port },
        { name: 'vault-2', apiPort: 1 },
        { name: 'vault-3', apiPort: 3 },
      ],
    });
    const f = fakeSnapshotCluster({ spec, state, token: 'restore-token' });
    // Larger than the socket buffers, so the body is still streaming when the abort comes.
    const file = writeSnapshot({}, gzipSync(randomBytes(8 << 20)));
    const ac = new AbortController();
    const progress = new RecordingProgress();
    const p = restoreSnapshot(f.cluster, file, {}, { progress, signal: ac.signal });
    await expect.poll(() => seen.bytes, { timeout: 10_000 }).toBeGreaterThan(0);
    ac.abort();
    const err = (await p.catch((e: unknown) => e)) as Error;
    expect(err.name).toBe('AbortError');
    expect(seen.url).toBe('/v1/sys/storage/raft/snapshot');
    expect(seen.token).toBe('restore-token');
    await seen.closed;
    expect(seen.bytes).toBeLessThan(8 << 20);
    expect(progress.lines).toContain('step restoring into vault-1');
    expect(f.calls).toEqual([]);
  }, 30_000);
});
