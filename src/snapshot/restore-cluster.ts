/**
 * `restoreCluster`: the whole restore an operator asks for with `vaultctl snapshot restore`. It
 * restores the file (`restoreSnapshot`), finishes a fresh cluster's bootstrap (the followers join
 * and unseal), unseals Shamir nodes with the state dir's shares, and then waits for two moments:
 * every node has applied the restored data, and the cluster is healthy.
 */
import { bootstrapCluster } from '../bootstrap/bootstrap.js';
import { unsealCluster } from '../bootstrap/unseal.js';
import type { Progress } from '../cluster/events.js';
import type { RunningCluster } from '../cluster/running.js';
import { RemoteError, UsageError } from '../errors.js';
import { type ClusterHealth, waitCaughtUp, waitForHealth } from '../health/health.js';
import type { SnapshotKeys } from './meta.js';
import { type RestoreResult, restoreSnapshot } from './restore.js';
import { reloadStaticSealKey, sourceSealAdvice } from './restore-seal.js';

export interface ClusterRestoreResult extends RestoreResult {
  readonly health: ClusterHealth;
  /** Seconds from the start until every node had applied the restored data; null if not seen. */
  readonly dataOnEveryNodeSeconds: number | null;
  /** Seconds from the start until the cluster was healthy. */
  readonly healthySeconds: number;
}

export async function restoreCluster(
  cluster: RunningCluster,
  file: string,
  keys: SnapshotKeys,
  deps: { readonly progress: Progress; readonly signal?: AbortSignal | undefined },
  opts: { readonly force?: boolean; readonly doing: string },
): Promise<ClusterRestoreResult> {
  const { spec, state } = cluster;
  if (!spec || !state)
    throw new UsageError(
      opts.doing,
      'a restore needs the cluster vaultctl manages (its spec and state dir)',
      'name the cluster with --cluster',
    );
  const { progress, signal } = deps;
  const start = performance.now();
  const res = await restoreSnapshot(
    cluster,
    file,
    keys,
    { progress, signal },
    { force: opts.force ?? false },
  );
  // Another cluster's data on the static seal needs its key, read by each node at start.
  if (spec.seal.type === 'static' && res.into === 'running cluster' && res.forced)
    await reloadStaticSealKey(cluster, res.meta, state, { progress, signal }, { doing: opts.doing, file });
  // A fresh cluster has its followers out of raft: bootstrap joins and unseals them (idempotent).
  if (res.into === 'fresh cluster') {
    await bootstrapCluster(cluster, { progress, signal });
  }
  // Afterwards the restored data's keys apply. Shamir nodes need the (source's) unseal keys.
  const material = state.readInit();
  if (spec.seal.type === 'shamir' && material && !material.pgp) {
    progress.step('unsealing the nodes with the state dir key shares');
    await unsealCluster(
      cluster.nodes,
      { progress, keys: async () => material.keys, connect: cluster.connector, tls: cluster.tls, signal },
      { timeoutMs: 90_000 },
    );
  }
  // Two moments: every node has applied the restored data (what a reader needs), then the cluster
  // is healthy (autopilot restarts after a restore and re-learns each follower's state from its
  // next heartbeat echo, which takes several seconds more).
  progress.step('waiting for every node to apply the restored data');
  const apis = cluster.nodes.map((n) => n.api({ token: undefined, timeoutMs: 2000 }));
  const caughtUp = await waitCaughtUp(apis, apis, { timeoutMs: 60_000, signal });
  if (caughtUp.at === undefined)
    progress.warn(`not every node applied the restored data within 60 s: ${caughtUp.behind.join(', ')}`);
  progress.step('waiting for a healthy cluster');
  const health = await waitForHealth(cluster.nodes, spec.nodes.length, {
    connect: cluster.connector,
    tls: cluster.tls,
    token: await cluster.token().catch(() => undefined),
    waitMs: 120_000,
    signal,
  });
  if (health.verdict !== 'healthy') {
    const sealed = health.nodes.some((n) => n.sealed === true);
    throw new RemoteError(
      opts.doing,
      `the data is restored but the cluster is ${health.verdict}: ${health.reasons.join('; ')}`,
      sealed && res.forced
        ? sourceSealAdvice(
            spec.seal.type,
            state,
            cluster.nodes.flatMap((n) => (n.container ? [n.container] : [])),
            file,
          )
        : `\`vaultctl health\` shows every node${spec.seal.type === 'shamir' ? '; `vaultctl unseal` unseals sealed nodes with the stored shares' : ''}`,
    );
  }
  const seconds = (ms: number) => Math.round(ms) / 1000;
  return {
    ...res,
    health,
    dataOnEveryNodeSeconds: caughtUp.at === undefined ? null : seconds(caughtUp.at - start),
    healthySeconds: seconds(performance.now() - start),
  };
}
