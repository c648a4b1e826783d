/**
 * A snapshot with no leader: `servingNode` says when it fell back to a standby (no node active),
 * and `archiveRaftMeta` reads the raft index and term from the snapshot archive itself, where no
 * autopilot can say them.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { archiveRaftMeta } from '../../src/snapshot/save.js';
import { resolveSpec } from '../../src/spec/resolve.js';
import { StateDir } from '../../src/state/state-dir.js';
import { fakeSnapshotCluster } from '../helpers/fake-snapshot-cluster.js';

let dir: string;
let state: StateDir;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'vaultctl-unit-stale-'));
  state = StateDir.forCluster(join(dir, 'state'), 'unit');
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const spec = resolveSpec({ name: 'unit', tls: { enabled: false } }).spec;

describe('servingNode', () => {
  it('the active node when one answers, not a standby', async () => {
    const { cluster } = fakeSnapshotCluster({
      spec,
      state,
      token: 't',
      rows: { 'vault-1': { standby: true }, 'vault-3': { standby: false } },
    });
    const s = await cluster.servingNode('saving a snapshot');
    expect(s.node.name).toBe('vault-3');
    expect(s.standby).toBe(false);
  });

  it('a standby, saying so, with what was wrong with the others, when no node is active', async () => {
    const { cluster } = fakeSnapshotCluster({
      spec,
      state,
      token: 't',
      rows: { 'vault-1': { up: false }, 'vault-2': { up: false }, 'vault-3': { standby: true } },
    });
    const s = await cluster.servingNode('saving a snapshot');
    expect(s.node.name).toBe('vault-3');
    expect(s.standby).toBe(true);
    expect(s.problems).toEqual(['vault-1 unreachable', 'vault-2 unreachable']);
    // serving() keeps its answer: the same standby.
    expect((await cluster.serving('saving a snapshot')).address).toBe(s.api.address);
  });
});

/** A tar entry: a 512-byte header (name, octal size) and the content padded to 512 bytes. */
function tarEntry(name: string, content: Buffer): Buffer {
  const header = Buffer.alloc(512);
  header.write(name, 0, 'utf8');
  header.write(`${content.length.toString(8).padStart(11, '0')}\0`, 124, 'utf8');
  const pad = Buffer.alloc((512 - (content.length % 512)) % 512);
  return Buffer.concat([header, content, pad]);
}

describe('archiveRaftMeta', () => {
  it('reads Index and Term from meta.json, the first entry of the archive', () => {
    const meta = Buffer.from(JSON.stringify({ ID: '3-812-1', Index: 812, Term: 3, Version: 1 }));
    const archive = gzipSync(
      Buffer.concat([tarEntry('meta.json', meta), tarEntry('state.bin', Buffer.alloc(200_000, 1))]),
    );
    expect(archiveRaftMeta(archive)).toEqual({ index: 812, term: 3 });
    // Only the head of the stream is kept: a cut archive still has its meta.json.
    expect(archiveRaftMeta(archive.subarray(0, 400))).toEqual({ index: 812, term: 3 });
  });

  it('undefined for anything else: no gzip, another first entry, no JSON', () => {
    expect(archiveRaftMeta(Buffer.from('not gzip'))).toBeUndefined();
    expect(archiveRaftMeta(gzipSync(tarEntry('state.bin', Buffer.from('x'))))).toBeUndefined();
    expect(archiveRaftMeta(gzipSync(tarEntry('meta.json', Buffer.from('{oops'))))).toBeUndefined();
  });
});
