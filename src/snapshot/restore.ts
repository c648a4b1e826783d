/**
 * Restoring a snapshot: the refusals (a target that could not unseal the data), the upload, and
 * the restore into a running or a fresh cluster.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Progress } from '../cluster/events.js';
import { pollUntil } from '../cluster/poll.js';
import { RemoteError, UsageError } from '../errors.js';
import type { ClusterSpec } from '../spec/spec.js';
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
    return {
      reason: `the snapshot's data is sealed with the ${meta.sealType} seal, the target uses ${target.sealType}: it could not unseal the restored data`,
      forceable: false,
    };
  }
  if (meta.sealType === 'static' && meta.sealKeyId && meta.sealKeyId !== sealKeyId(state)) {
    return {
      reason:
        "the snapshot's data is sealed with another static seal key than this cluster's: its nodes could not unseal the restored data (copy the source's seal.key into the state dir and run `vaultctl up` first)",
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

/** Uploads the snapshot; `force` (snapshot-force) when it comes from another cluster. */
export async function uploadSnapshot(
  file: string,
  meta: SnapshotMeta,
  keys: SnapshotKeys,
  target: RestoreTarget,
  force: boolean,
): Promise<void> {
  await snapshotUpload(
    { address: target.api.address, token: target.token, tls: target.tls },
    await openPlain(file, meta, keys),
    force,
  );
}

export interface RestoreDeps {
  readonly progress: Progress;
  readonly tls?: VaultTls | undefined;
  /** Token for an initialised target (BAO_TOKEN, admin credential, stored root token). */
  readonly token: () => Promise<string | undefined>;
  readonly nodes: readonly { name: string; api: VaultNode }[];
  /** Stop and start a node's container (fresh-cluster restores keep the followers out meanwhile). */
  readonly stopNode: (name: string) => Promise<void>;
  readonly startNode: (name: string) => Promise<void>;
  readonly signal?: AbortSignal | undefined;
}

export interface RestoreResult {
  readonly meta: SnapshotMeta;
  readonly into: 'running cluster' | 'fresh cluster';
  readonly forced: boolean;
}

/**
 * Restores a verified snapshot. Into a running cluster: upload (forced when it comes from another
 * cluster). Into a fresh, uninitialised cluster (disaster recovery after total loss): initialise the
 * first node with throwaway keys (kept 0600 in the state dir until the end, for a crash), upload
 * with force, and let the restored data take over; the state dir's own key material then applies.
 */
export async function restoreSnapshot(
  spec: ClusterSpec,
  state: StateDir,
  file: string,
  keys: SnapshotKeys,
  deps: RestoreDeps,
  opts: { force?: boolean } = {},
): Promise<RestoreResult> {
  const doing = `restoring ${file}`;
  deps.progress.step(`verifying ${file}`);
  const meta = await verifySnapshot(file, keys);
  if (!hasKeyFor(meta, keys)) throw missingKey(doing, meta);
  const statuses = await Promise.all(
    deps.nodes.map(async (n) => ({
      n,
      s: await n.api.sealStatus().catch(() => undefined),
      h: await n.api.health().catch(() => undefined),
    })),
  );
  const down = statuses.filter((x) => !x.s).map((x) => x.n.name);
  if (down.length > 0) {
    throw new RemoteError(
      doing,
      `node${down.length > 1 ? 's' : ''} ${down.join(', ')} do${down.length > 1 ? '' : 'es'} not answer`,
      'a restore needs every node: `vaultctl up`, then retry. Nothing was changed.',
    );
  }
  const initialised = statuses.some((x) => x.s?.initialized);
  const sealType = statuses[0]!.s!.type;

  if (initialised) {
    const active = statuses.find((x) => x.h?.initialized && !x.h.sealed && !x.h.standby);
    if (!active) throw new RemoteError(doing, 'no active node', '`vaultctl health`; unseal first');
    const clusterId = active.h!.cluster_id ?? '';
    const why = restoreRefusal(meta, spec, state, { clusterId, sealType });
    if (why && !(why.forceable && opts.force)) {
      const hint = why.forceable
        ? '--force restores anyway, when you will provide what is missing. Nothing was changed.'
        : 'nothing was changed';
      throw new UsageError(doing, why.reason, hint);
    }
    const token = await deps.token();
    if (!token) throw new UsageError(doing, 'no token', 'run `vaultctl init`, or export BAO_TOKEN');
    const forced = opts.force === true || meta.clusterId !== clusterId;
    deps.progress.step(`restoring into ${active.n.name}${forced ? ' (forced: another cluster)' : ''}`);
    await uploadSnapshot(
      file,
      meta,
      keys,
      { api: active.n.api, token, tls: deps.tls, clusterId, sealType },
      forced,
    );
    return { meta, into: 'running cluster', forced };
  }

  // A fresh cluster: nothing to lose on it; restore over a throwaway initialisation.
  // A fresh cluster has no id yet; for Shamir the state dir's unseal keys apply after the restore.
  const why = restoreRefusal(meta, spec, state, { clusterId: undefined, sealType });
  if (why && !(why.forceable && opts.force)) {
    throw new UsageError(
      doing,
      why.reason,
      why.forceable ? '--force restores anyway. Nothing was changed.' : 'nothing was changed',
    );
  }
  const [first, ...followers] = deps.nodes as [
    { name: string; api: VaultNode },
    ...{ name: string; api: VaultNode }[],
  ];
  const auto = sealType !== 'shamir';
  const activeWithin = async (ms: number, what: string) => {
    const start = Date.now();
    for (;;) {
      const h = await first.api.health().catch(() => undefined);
      if (h?.initialized && !h.sealed && !h.standby) return;
      if (Date.now() - start > ms)
        throw new RemoteError(
          doing,
          `${first.name} did not become active ${what}`,
          '`docker logs` of the node says why',
        );
      await new Promise((r) => setTimeout(r, 250));
    }
  };
  // The followers stay out until the restored data is in place: had they joined the throwaway
  // cluster, they would hold its keyring and could not follow the restored one.
  for (const f of followers) await deps.stopNode(f.name);
  deps.progress.step(`initialising ${first.name} with throwaway keys for the restore`);
  const tmpFile = join(state.root, 'restore-init.tmp.json');
  const res = await first.api.init(
    auto ? { recovery_shares: 1, recovery_threshold: 1 } : { secret_shares: 1, secret_threshold: 1 },
  );
  state.writeFileAtomic(tmpFile, `${JSON.stringify(res, null, 2)}\n`);
  try {
    if (!auto) await first.api.unseal((res.keys_base64 ?? [])[0]!);
    await activeWithin(60_000, 'after the throwaway initialisation');
    deps.progress.step(`restoring into ${first.name} (forced: a fresh cluster)`);
    await uploadSnapshot(
      file,
      meta,
      keys,
      { api: first.api, token: res.root_token, tls: deps.tls, clusterId: '', sealType },
      true,
    );
  } finally {
    rmSync(tmpFile, { force: true });
  }
  // Now the restored data rules: its seal (the state dir's key) and its tokens. The node keeps the
  // throwaway cluster's raft TLS keyring in memory until it restarts; followers joining before
  // that could not talk to it ("tls: unrecognized name"), so restart it first.
  deps.progress.step(`restarting ${first.name} to load the restored data`);
  await deps.stopNode(first.name);
  await deps.startNode(first.name);
  await pollUntil(() => first.api.sealStatus(), {
    what: `${first.name} to answer after the restart`,
    timeoutMs: 60_000,
    signal: deps.signal,
  });
  if (!auto) {
    const material = state.readInit();
    const st = await first.api.sealStatus();
    if (st.sealed && material && !material.pgp)
      for (const k of material.keys.slice(0, st.t)) await first.api.unseal(k);
  }
  await activeWithin(90_000, 'with the restored data');
  const token = await deps.token();
  if (!token)
    throw new UsageError(
      doing,
      'the data is restored but no token of the restored cluster is at hand',
      'export BAO_TOKEN with a token of the source cluster',
    );
  // The restored raft configuration still lists the source's other servers: drop them, so the
  // followers can join afresh.
  const leader = first.api;
  leader.setToken(token);
  // Right after the restore the leader is busy with peers that are gone: retry, bounded.
  const servers = await pollUntil(() => leader.raftServers(), {
    what: 'the restored raft configuration',
    timeoutMs: 60_000,
    intervalMs: 500,
    signal: deps.signal,
  });
  for (const srv of servers) {
    if (srv.node_id === first.name) continue;
    deps.progress.step(`removing the stale raft peer ${srv.node_id}`);
    await pollUntil(
      () =>
        leader
          .write(
            'sys/storage/raft/remove-peer',
            { server_id: srv.node_id },
            `removing raft peer ${srv.node_id}`,
          )
          .then(() => true),
      {
        what: `the removal of raft peer ${srv.node_id}`,
        timeoutMs: 60_000,
        intervalMs: 500,
        signal: deps.signal,
      },
    );
  }
  leader.setToken(undefined);
  for (const f of followers) await deps.startNode(f.name);
  return { meta, into: 'fresh cluster', forced: true };
}
