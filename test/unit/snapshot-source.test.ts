/**
 * The snapshot use case chooses the node a snapshot is read from (src/snapshot/source.ts): the
 * active node; with none, a standby only with --allow-stale on a cluster whose standbys serve
 * reads, said loudly; otherwise a refusal that says why and what to do.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RemoteError, UsageError } from '../../src/errors.js';
import { chooseSnapshotSource } from '../../src/snapshot/source.js';
import { resolveSpec } from '../../src/spec/resolve.js';
import { StateDir } from '../../src/state/state-dir.js';
import { fakeSnapshotCluster } from '../helpers/fake-snapshot-cluster.js';
import { RecordingProgress, silentProgress } from '../helpers/progress.js';

const dir = mkdtempSync(join(tmpdir(), 'vaultctl-unit-source-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const state = StateDir.forCluster(join(dir, 'state'), 'unit');
const spec = resolveSpec({ name: 'unit', tls: { enabled: false } }).spec;
const withStandbyReads = resolveSpec({ name: 'unit', tls: { enabled: false }, standbyReads: true }).spec;
const doing = 'saving a snapshot';
const noLeader = { 'vault-1': { up: false }, 'vault-2': { up: false }, 'vault-3': { standby: true } };

describe('chooseSnapshotSource', () => {
  it('the active node, not stale', async () => {
    const { cluster } = fakeSnapshotCluster({
      spec,
      state,
      token: 't',
      rows: { 'vault-1': { standby: true }, 'vault-2': { standby: false } },
    });
    const s = await chooseSnapshotSource(cluster, spec, {
      allowStale: false,
      progress: silentProgress,
      doing,
    });
    expect(s.stale).toBeUndefined();
    expect(s.token).toBe('t');
    expect(s.api.address).toBe(cluster.node('vault-2').address);
  });

  it('no active node: refused without --allow-stale, with the way out in the hint', async () => {
    const { cluster } = fakeSnapshotCluster({ spec: withStandbyReads, state, token: 't', rows: noLeader });
    const err = await chooseSnapshotSource(cluster, withStandbyReads, {
      allowStale: false,
      progress: silentProgress,
      doing,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RemoteError);
    expect((err as RemoteError).message).toBe(
      'no active node (vault-1 unreachable, vault-2 unreachable): only the standby vault-3 answers, and its data may miss writes the cluster acknowledged',
    );
    expect((err as RemoteError).hint).toContain('or pass --allow-stale');
  });

  it('no active node, --allow-stale, standbys that forward every request: still refused', async () => {
    const { cluster } = fakeSnapshotCluster({ spec, state, token: 't', rows: noLeader });
    const err = await chooseSnapshotSource(cluster, spec, {
      allowStale: true,
      progress: silentProgress,
      doing,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RemoteError);
    expect((err as RemoteError).hint).toContain('--allow-stale neither');
  });

  it('no active node, --allow-stale, standby reads: the standby, marked stale and warned about', async () => {
    const { cluster } = fakeSnapshotCluster({ spec: withStandbyReads, state, token: 't', rows: noLeader });
    const progress = new RecordingProgress();
    const s = await chooseSnapshotSource(cluster, withStandbyReads, { allowStale: true, progress, doing });
    expect(s.stale).toEqual({
      node: 'vault-3',
      reason: 'no active node (vault-1 unreachable, vault-2 unreachable)',
    });
    expect(progress.lines.filter((l) => l.startsWith('warn STALE SNAPSHOT'))).toHaveLength(1);
  });

  it('no token: refused before any node is asked', async () => {
    const { cluster, calls } = fakeSnapshotCluster({ spec, state });
    const err = await chooseSnapshotSource(cluster, spec, {
      allowStale: false,
      progress: silentProgress,
      doing,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect(calls).toEqual([]);
  });
});
