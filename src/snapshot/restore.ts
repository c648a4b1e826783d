/**
 * Restoring a snapshot: the refusals (a target that could not unseal the data), the upload, and
 * the restore into a running or a fresh cluster.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { unsealWithShares } from '../bootstrap/unseal.js';
import type { Progress } from '../cluster/events.js';
import type { NodeHandle, RunningCluster } from '../cluster/running.js';
import { RemoteError, UsageError } from '../errors.js';
import { readHistory } from '../seal/journal.js';
import type { ClusterSpec } from '../spec/schema.js';
import type { StateDir } from '../state/state-dir.js';
import type { VaultNode, VaultTls } from '../vault/port.js';
import { snapshotUpload } from '../vault/stream.js';
import { hasKeyFor, missingKey, type SnapshotKeys, type SnapshotMeta, sealKeyId } from './meta.js';
import { openPlain, verifySnapshot } from './verify.js';

export interface RestoreTarget {
  readonly api: VaultNode;
  readonly token: string;
  readonly tls?: VaultTls | undefined;
  readonly clusterId: string;
  readonly sealType: string;
}

/**
 * Why a snapshot cannot be restored into this target (undefined: it can). `forceable` problems
 * are ones the operator can mend after the restore (supply the source's seal key or unseal keys).
 */
export function restoreRefusal(
  meta: SnapshotMeta,
  spec: ClusterSpec,
  state: StateDir,
  target: { clusterId: string | undefined; sealType: string },
): { reason: string; forceable: boolean } | undefined {
  if (meta.flavor !== spec.flavor) {
    return {
      reason: `the snapshot is from ${meta.flavor}, the target runs ${spec.flavor}: their storage formats differ`,
      forceable: false,
    };
  }
  if (meta.sealType !== target.sealType) {
    // A snapshot from before `seal migrate` holds the root key wrapped by the old seal.
    const migrated = readHistory(state)
      .filter((h) => h.from === meta.sealType && Date.parse(h.finishedAt) >= Date.parse(meta.createdAt))
      .at(-1);
    const why = migrated
      ? ` (this cluster migrated from ${migrated.from} to ${migrated.to} on ${migrated.finishedAt}, after the snapshot was saved: restore it into a cluster on the ${migrated.from} seal${migrated.from === 'static' ? " with this state dir's seal.key" : ''}, then migrate that cluster again)`
      : '';
    return {
      reason: `the snapshot's data is sealed with the ${meta.sealType} seal, the target uses ${target.sealType}: it could not unseal the restored data${why}`,
      forceable: false,
    };
  }
  if (meta.sealType === 'static' && meta.sealKeyId && meta.sealKeyId !== sealKeyId(state)) {
    return {
      reason: `the snapshot's data is sealed with another static seal key than this cluster's: its nodes could not unseal the restored data (keep a copy of ${state.sealKeyFile}, copy the source cluster's seal.key over it, and run this restore again: vaultctl then restarts the nodes so that they read it)`,
      forceable: true,
    };
  }
  if (meta.sealType === 'shamir' && target.clusterId !== undefined && meta.clusterId !== target.clusterId) {
    return {
      reason:
        "the snapshot comes from another Shamir cluster: after the restore the nodes need that cluster's unseal keys, not this cluster's",
      forceable: true,
    };
  }
  return undefined;
}

/**
 * Uploads the snapshot; `force` (snapshot-force) when it comes from another cluster. Aborting
 * `signal` (Ctrl-C) stops the upload with an AbortError.
 */
export async function uploadSnapshot(
  file: string,
  meta: SnapshotMeta,
  keys: SnapshotKeys,
  target: RestoreTarget,
  force: boolean,
  signal?: AbortSignal,
): Promise<void> {
  await snapshotUpload(
    { address: target.api.address, token: target.token, tls: target.tls },
    await openPlain(file, meta, keys),
    force,
    signal,
  );
}

export interface RestoreDeps {
  readonly progress: Progress;
  readonly signal?: AbortSignal | undefined;
}

export interface RestoreResult {
  readonly meta: SnapshotMeta;
  readonly into: 'running cluster' | 'fresh cluster';
  readonly forced: boolean;
}

/** A node with the unauthenticated client the restore asks it with. */
interface TargetNode {
  readonly handle: NodeHandle;
  readonly api: VaultNode;
}

/** What both kinds of restore share once the file is verified and every node answered. */
interface Restore {
  readonly cluster: RunningCluster;
  readonly spec: ClusterSpec;
  readonly state: StateDir;
  readonly file: string;
  readonly keys: SnapshotKeys;
  readonly meta: SnapshotMeta;
  readonly sealType: string;
  readonly deps: RestoreDeps;
  readonly force: boolean;
  readonly doing: string;
}

/**
 * Restores a verified snapshot into the cluster vaultctl manages. Into a running cluster: upload
 * (forced when it comes from another cluster). Into a fresh, uninitialised cluster (disaster
 * recovery after total loss): initialise the first node with throwaway keys (kept 0600 in the
 * state dir until the end, for a crash), upload with force, and let the restored data take over;
 * the state dir's own key material then applies. Refuses, before changing anything, a snapshot
 * the target could not unseal (see `restoreRefusal`; `force` for the forceable ones) and a
 * cluster with a node down.
 */
export async function restoreSnapshot(
  cluster: RunningCluster,
  file: string,
  keys: SnapshotKeys,
  deps: RestoreDeps,
  opts: { force?: boolean } = {},
): Promise<RestoreResult> {
  const doing = `restoring ${file}`;
  const { spec, state } = cluster;
  if (!spec || !state)
    throw new UsageError(
      doing,
      'a restore needs the cluster vaultctl manages (its spec and state dir)',
      'name the cluster with --cluster',
    );
  deps.progress.step(`verifying ${file}`);
  const meta = await verifySnapshot(file, keys);
  if (!hasKeyFor(meta, keys)) throw missingKey(doing, meta);
  // Unauthenticated: the target's token is resolved only once nothing refuses the restore.
  const nodes: TargetNode[] = cluster.nodes.map((handle) => ({
    handle,
    api: handle.api({ token: undefined }),
  }));
  const statuses = await Promise.all(
    nodes.map(async (n) => ({
      n,
      s: await n.api.sealStatus().catch(() => undefined),
      h: await n.api.health().catch(() => undefined),
    })),
  );
  const down = statuses.filter((x) => !x.s).map((x) => x.n.handle.name);
  if (down.length > 0) {
    throw new RemoteError(
      doing,
      `node${down.length > 1 ? 's' : ''} ${down.join(', ')} do${down.length > 1 ? '' : 'es'} not answer`,
      'a restore needs every node: `vaultctl up`, then retry. Nothing was changed.',
    );
  }
  const sealType = statuses[0]!.s!.type;
  const r: Restore = {
    cluster,
    spec,
    state,
    file,
    keys,
    meta,
    sealType,
    deps,
    force: opts.force === true,
    doing,
  };
  if (statuses.some((x) => x.s?.initialized)) {
    const active = statuses.find((x) => x.h?.initialized && !x.h.sealed && !x.h.standby);
    if (!active) throw new RemoteError(doing, 'no active node', '`vaultctl health`; unseal first');
    return intoRunning(r, active.n, active.h!.cluster_id ?? '');
  }
  return intoFresh(r, nodes);
}

async function intoRunning(r: Restore, active: TargetNode, clusterId: string): Promise<RestoreResult> {
  const { meta, doing } = r;
  const why = restoreRefusal(meta, r.spec, r.state, { clusterId, sealType: r.sealType });
  if (why && !(why.forceable && r.force)) {
    const hint = why.forceable
      ? '--force restores anyway, when you will provide what is missing. Nothing was changed.'
      : 'nothing was changed';
    throw new UsageError(doing, why.reason, hint);
  }
  const token = await r.cluster.token();
  if (!token) throw new UsageError(doing, 'no token', 'run `vaultctl init`, or export BAO_TOKEN');
  const forced = r.force || meta.clusterId !== clusterId;
  r.deps.progress.step(`restoring into ${active.handle.name}${forced ? ' (forced: another cluster)' : ''}`);
  await uploadSnapshot(
    r.file,
    meta,
    r.keys,
    { api: active.api, token, tls: r.cluster.tls, clusterId, sealType: r.sealType },
    forced,
    r.deps.signal,
  );
  return { meta, into: 'running cluster', forced };
}

/** A fresh cluster: nothing to lose on it; restore over a throwaway initialisation. */
async function intoFresh(r: Restore, nodes: readonly TargetNode[]): Promise<RestoreResult> {
  const { cluster, state, meta, doing, deps } = r;
  const { progress, signal } = deps;
  // A fresh cluster has no id yet; for Shamir the state dir's unseal keys apply after the restore.
  const why = restoreRefusal(meta, r.spec, state, { clusterId: undefined, sealType: r.sealType });
  if (why && !(why.forceable && r.force)) {
    throw new UsageError(
      doing,
      why.reason,
      why.forceable ? '--force restores anyway. Nothing was changed.' : 'nothing was changed',
    );
  }
  const [first, ...followers] = nodes as [TargetNode, ...TargetNode[]];
  const name = first.handle.name;
  const auto = r.sealType !== 'shamir';
  const wait = <T>(what: string, check: () => Promise<T | undefined>, timeoutMs: number, intervalMs = 250) =>
    cluster.waitFor(what, check, {
      timeoutMs,
      intervalMs,
      signal,
      node: first.handle,
      doing,
      hint: '`docker logs` of the node says why',
    });
  const activeWithin = (timeoutMs: number, what: string) =>
    wait(
      `${name} to become active ${what}`,
      async () => {
        const h = await first.api.health();
        return h.initialized && !h.sealed && !h.standby ? true : undefined;
      },
      timeoutMs,
    );
  // The followers stay out until the restored data is in place: had they joined the throwaway
  // cluster, they would hold its keyring and could not follow the restored one.
  for (const f of followers) await f.handle.stop(10);
  progress.step(`initialising ${name} with throwaway keys for the restore`);
  const tmpFile = join(state.root, 'restore-init.tmp.json');
  const res = await first.api.init(
    auto ? { recovery_shares: 1, recovery_threshold: 1 } : { secret_shares: 1, secret_threshold: 1 },
  );
  state.writeFileAtomic(tmpFile, `${JSON.stringify(res, null, 2)}\n`);
  try {
    if (!auto)
      await unsealWithShares(first.api, async () => res.keys_base64 ?? [], {
        name,
        wait: (attempt) => wait(`${name} to unseal with the throwaway key`, attempt, 30_000),
      });
    await activeWithin(60_000, 'after the throwaway initialisation');
    progress.step(`restoring into ${name} (forced: a fresh cluster)`);
    await uploadSnapshot(
      r.file,
      meta,
      r.keys,
      { api: first.api, token: res.root_token, tls: cluster.tls, clusterId: '', sealType: r.sealType },
      true,
      signal,
    );
  } finally {
    rmSync(tmpFile, { force: true });
  }
  // Now the restored data rules: its seal (the state dir's key) and its tokens. The node keeps the
  // throwaway cluster's raft TLS keyring in memory until it restarts; followers joining before
  // that could not talk to it ("tls: unrecognized name"), so restart it first.
  progress.step(`restarting ${name} to load the restored data`);
  await first.handle.stop(10);
  await first.handle.start();
  await wait(`${name} to answer after the restart`, () => first.api.sealStatus(), 60_000);
  if (!auto) {
    const material = state.readInit();
    if (material && !material.pgp)
      await unsealWithShares(first.api, async () => material.keys, {
        name,
        wait: (attempt) => wait(`${name} to unseal with the state dir's key shares`, attempt, 60_000),
      });
  }
  await activeWithin(90_000, 'with the restored data');
  const token = await cluster.token();
  if (!token)
    throw new UsageError(
      doing,
      'the data is restored but no token of the restored cluster is at hand',
      'export BAO_TOKEN with a token of the source cluster',
    );
  // The restored raft configuration still lists the source's other servers: drop them, so the
  // followers can join afresh.
  const leader = first.handle.api({ token });
  // Right after the restore the leader is busy with peers that are gone: retry, bounded.
  const servers = await wait('the restored raft configuration', () => leader.raftServers(), 60_000, 500);
  for (const srv of servers) {
    if (srv.node_id === name) continue;
    progress.step(`removing the stale raft peer ${srv.node_id}`);
    await wait(
      `the removal of raft peer ${srv.node_id}`,
      () =>
        leader
          .write(
            'sys/storage/raft/remove-peer',
            { server_id: srv.node_id },
            `removing raft peer ${srv.node_id}`,
          )
          .then(() => true),
      60_000,
      500,
    );
  }
  for (const f of followers) await f.handle.start();
  return { meta, into: 'fresh cluster', forced: true };
}
