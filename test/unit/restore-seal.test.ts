/**
 * Another cluster's snapshot and the seal (issue 26 item 9): the refusal's advice is complete (copy
 * the key, then restore again: vaultctl restarts the nodes), a forced restore with the wrong static
 * key fails at once with advice that works for a static seal (not `vaultctl unseal`, not
 * `vaultctl up`), and nodes that stay sealed on the copied key are restarted.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NodeHandle, RunningCluster } from '../../src/cluster/running.js';
import { RemoteError } from '../../src/errors.js';
import { SNAPSHOT_FORMAT, type SnapshotMeta, sealKeyId } from '../../src/snapshot/meta.js';
import { restoreRefusal } from '../../src/snapshot/restore.js';
import { reloadStaticSealKey, sourceSealAdvice } from '../../src/snapshot/restore-seal.js';
import { resolveSpec } from '../../src/spec/resolve.js';
import { StateDir } from '../../src/state/state-dir.js';
import { RecordingProgress } from '../helpers/progress.js';

let dir: string;
let state: StateDir;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'vctl-restore-seal-'));
  state = StateDir.forCluster(join(dir, 'state'), 'unit');
  state.writeFileAtomic(state.sealKeyFile, randomBytes(32));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const meta = (over: Partial<SnapshotMeta> = {}): SnapshotMeta => ({
  format: SNAPSHOT_FORMAT,
  file: 'other.snap',
  cluster: 'other',
  clusterId: 'cluster-b',
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
});

/** Three nodes answering sealed (or not); restarts recorded. */
function fakeCluster(sealed: () => boolean): { cluster: RunningCluster; restarts: string[] } {
  const restarts: string[] = [];
  const nodes = ['vault-1', 'vault-2', 'vault-3'].map(
    (name) =>
      ({
        name,
        container: `unit-${name}`,
        api: () => ({ health: async () => ({ initialized: true, sealed: sealed(), standby: false }) }),
        restart: async () => {
          restarts.push(name);
        },
      }) as unknown as NodeHandle,
  );
  return { cluster: { nodes } as unknown as RunningCluster, restarts };
}

describe('restoring another cluster on the static seal', () => {
  it('the refusal says to copy the key and restore again, not to run `vaultctl up`', () => {
    const spec = resolveSpec({ name: 'unit', tls: { enabled: false } }).spec;
    const why = restoreRefusal(meta({ sealKeyId: '0123456789abcdef' }), spec, state, {
      clusterId: 'cluster-a',
      sealType: 'static',
    });
    expect(why?.reason).toContain(`copy the source cluster's seal.key over it, and run this restore again`);
    expect(why?.reason).not.toMatch(/vaultctl up/);
  });

  it('advice per seal type: static names the key file and `docker restart` of every node', () => {
    const s = sourceSealAdvice('static', state, ['a-1', 'a-2', 'a-3'], 'x.snap');
    expect(s).toContain(state.sealKeyFile);
    expect(s).toContain('`docker restart a-1 a-2 a-3`');
    expect(s).not.toMatch(/vaultctl unseal/);
    expect(sourceSealAdvice('shamir', state, [], 'x.snap')).toMatch(/vaultctl unseal --prompt/);
    expect(sourceSealAdvice('transit', state, ['a-1'], 'x.snap')).toMatch(/transit key.*docker restart a-1/);
  });

  it('a forced restore with another static key fails at once, saying what to do', async () => {
    const { cluster, restarts } = fakeCluster(() => true);
    const t0 = Date.now();
    const err = await reloadStaticSealKey(
      cluster,
      meta({ sealKeyId: '0123456789abcdef' }),
      state,
      { progress: new RecordingProgress() },
      { doing: 'restoring other.snap', file: 'other.snap' },
    ).catch((e: unknown) => e);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(err).toBeInstanceOf(RemoteError);
    expect((err as RemoteError).message).toMatch(/sealed with another static seal key/);
    expect((err as RemoteError).hint).toContain('docker restart unit-vault-1 unit-vault-2 unit-vault-3');
    expect(restarts).toEqual([]);
  });

  it('with the snapshot key in place, nodes that stay sealed are restarted; unsealed ones are not', async () => {
    const same = meta({ sealKeyId: sealKeyId(state)! });
    const sealedOnes = fakeCluster(() => true);
    await reloadStaticSealKey(
      sealedOnes.cluster,
      same,
      state,
      { progress: new RecordingProgress() },
      { doing: 'restoring', file: 'x', pollMs: 1, settleMs: 0 },
    );
    expect(sealedOnes.restarts).toEqual(['vault-1', 'vault-2', 'vault-3']);
    const serving = fakeCluster(() => false);
    await reloadStaticSealKey(
      serving.cluster,
      same,
      state,
      { progress: new RecordingProgress() },
      { doing: 'restoring', file: 'x', pollMs: 1, settleMs: 0 },
    );
    expect(serving.restarts).toEqual([]);
  });
});
