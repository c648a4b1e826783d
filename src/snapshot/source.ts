/**
 * Where a snapshot is read from: the active node, or, with no active node, a standby only when the
 * user allowed a stale snapshot and the cluster's standbys can serve one. The policy lives here, in
 * the snapshot use case, so that every caller (the CLI, a scheduled backup) applies the same one.
 */
import type { Progress } from '../cluster/events.js';
import type { RunningCluster } from '../cluster/running.js';
import { RemoteError, UsageError } from '../errors.js';
import type { ClusterSpec } from '../spec/schema.js';
import type { VaultNode } from '../vault/port.js';

export interface SnapshotSource {
  readonly api: VaultNode;
  readonly token: string;
  /** Set when the snapshot comes from a standby (no active node): its data may be stale. */
  readonly stale?: { readonly node: string; readonly reason: string } | undefined;
}

/**
 * Chooses the node to save a snapshot from. Refuses (RemoteError, exit 2) a standby unless
 * `allowStale` and the spec's standbys serve reads (`standbyReads`); warns loudly when it uses one.
 */
export async function chooseSnapshotSource(
  cluster: RunningCluster,
  spec: ClusterSpec,
  opts: { readonly allowStale: boolean; readonly progress: Progress; readonly doing: string },
): Promise<SnapshotSource> {
  const { doing } = opts;
  const token = await cluster.token();
  if (!token)
    throw new UsageError(
      doing,
      'no token: the state dir has none and BAO_TOKEN/VAULT_TOKEN is not set',
      'run `vaultctl init` first, or export BAO_TOKEN',
    );
  const serving = await cluster.servingNode(doing, token);
  const stale = serving.standby
    ? { node: serving.node.name, reason: `no active node (${serving.problems.join(', ') || 'no leader'})` }
    : undefined;
  // Standbys that forward every request (the default, standbyReads: false) have no active node to
  // forward a snapshot request to: only a cluster with standby reads can save a stale one.
  const staleSavable = spec.standbyReads;
  if (stale && (!opts.allowStale || !staleSavable)) {
    throw new RemoteError(
      doing,
      `${stale.reason}: only the standby ${stale.node} answers, and its data may miss writes the cluster acknowledged`,
      staleSavable
        ? 'bring the other nodes back (`vaultctl health` shows them, `vaultctl up` starts stopped ones), or pass --allow-stale to save what this standby has'
        : 'bring the other nodes back (`vaultctl health` shows them, `vaultctl up` starts stopped ones); its standbys forward every request (standbyReads: false), so no standby can save one, --allow-stale neither',
    );
  }
  // Loud on purpose: a backup job's log is where a stale snapshot must be noticed.
  if (stale)
    opts.progress.warn(
      `STALE SNAPSHOT (--allow-stale): ${stale.reason}; saving from the standby ${stale.node}, whose data may miss acknowledged writes; the sidecar records it`,
    );
  return { api: serving.api, token, stale };
}
