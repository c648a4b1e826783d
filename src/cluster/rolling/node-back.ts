/**
 * Waiting for a node that was restarted or recreated to be back: unsealed (given key shares when
 * it needs them: the stored Shamir shares, or the recovery keys of a seal migration), caught up
 * with the leader's index, and seen by autopilot as a healthy voter (with the version it runs,
 * when one is expected) in a cluster that can lose one node again. And the check before a node
 * goes down: the cluster can lose one.
 */
import { unsealWithShares } from '../../bootstrap/unseal.js';
import type { StateDir } from '../../state/state-dir.js';
import type { AutopilotServer } from '../../vault/port.js';
import type { NodeHandle, RunningCluster } from '../running.js';

export interface NodeBackOptions {
  /** The whole wait (every stage shares it). */
  readonly timeoutMs: number;
  readonly signal?: AbortSignal | undefined;
  /** The version autopilot must have heard from the node (an upgrade). */
  readonly version?: string;
  /** Key shares the node is given while it is sealed; without them it must unseal itself. */
  readonly shares?: {
    readonly keys: readonly string[];
    readonly threshold?: number | undefined;
    /** Part of a seal migration (`-migrate`). */
    readonly migrate?: boolean;
  };
  /** "Error <doing>: ..." and the hint of a timeout. */
  readonly doing: string;
  readonly hint?: string;
}

/** The leader's applied index and the autopilot state, read from the active node. */
async function leaderFacts(cluster: RunningCluster) {
  const active = await cluster.active({ timeoutMs: 2000 });
  if (!active) return undefined;
  const api = active.api({ timeoutMs: 3000 });
  const [leader, autopilot] = await Promise.all([api.leader(), api.autopilotState()]);
  return { active, applied: leader.raft_applied_index ?? 0, autopilot };
}

const serverOf = (servers: Record<string, AutopilotServer>, name: string) =>
  Object.values(servers).find((s) => s.name === name || s.id === name);

/** Waits until the node is unsealed, caught up and a healthy voter of a healthy cluster. */
export async function waitNodeBack(
  cluster: RunningCluster,
  node: NodeHandle,
  opts: NodeBackOptions,
): Promise<void> {
  const deadline = cluster.clock.now() + opts.timeoutMs;
  const wait = (what: string, intervalMs: number) => ({
    timeoutMs: Math.max(1000, deadline - cluster.clock.now()),
    intervalMs,
    signal: opts.signal,
    node,
    doing: opts.doing,
    ...(opts.hint ? { hint: opts.hint } : {}),
    what,
  });
  const { shares } = opts;
  const unsealed = wait(`${node.name} to answer unsealed`, 250);
  if (shares)
    await unsealWithShares(node.api({ token: undefined, timeoutMs: 3000 }), async () => shares.keys, {
      name: node.name,
      ...(shares.threshold !== undefined ? { threshold: shares.threshold } : {}),
      ...(shares.migrate ? { migrate: true } : {}),
      wait: (attempt) => cluster.waitFor(unsealed.what, attempt, unsealed),
    });
  else {
    // Without shares the node must unseal itself (an auto seal): it is only waited for.
    const probe = node.api({ token: undefined, timeoutMs: 2000 });
    await cluster.waitFor(
      unsealed.what,
      async () => {
        const h = await probe.health();
        return h.initialized && !h.sealed ? true : undefined;
      },
      unsealed,
    );
  }
  const api = node.api({ timeoutMs: 2000 });
  const mark = (await leaderFacts(cluster).catch(() => undefined))?.applied ?? 0;
  const caught = wait(`${node.name} to apply the leader's index ${mark}`, 200);
  await cluster.waitFor(
    caught.what,
    async () => ((await api.leader()).raft_applied_index ?? 0) >= mark || undefined,
    caught,
  );
  const voter = wait(`autopilot to report ${node.name} a healthy voter and the cluster healthy`, 500);
  await cluster.waitFor(
    voter.what,
    async () => {
      const f = await leaderFacts(cluster).catch(() => undefined);
      const s = f ? serverOf(f.autopilot.servers, node.name) : undefined;
      // Autopilot calls a node healthy for a while after it stopped (last contact threshold): the
      // version the leader learnt from the node itself proves the new server talks to it.
      const heard = opts.version === undefined || s?.version === undefined || s.version === opts.version;
      const isVoter =
        s?.status === 'voter' || s?.status === 'leader' || f?.autopilot.voters.includes(node.name);
      return f?.autopilot.healthy &&
        f.autopilot.failure_tolerance >= 1 &&
        s?.healthy &&
        heard &&
        isVoter &&
        (s.last_index ?? mark) >= mark
        ? true
        : undefined;
    },
    voter,
  );
}

/**
 * Waits until autopilot, asked on the active node, reports the cluster healthy with failure
 * tolerance >= 1: only then may one more node go down.
 */
export async function waitSafeToStop(
  cluster: RunningCluster,
  opts: { timeoutMs: number; signal?: AbortSignal | undefined; hint: string },
): Promise<void> {
  await cluster.waitFor(
    'a healthy cluster that can lose one node (autopilot healthy, failure tolerance >= 1)',
    async () => {
      const f = await leaderFacts(cluster);
      return f?.autopilot.healthy && f.autopilot.failure_tolerance >= 1 ? true : undefined;
    },
    {
      timeoutMs: opts.timeoutMs,
      intervalMs: 500,
      signal: opts.signal,
      doing: 'checking that the cluster can lose one node',
      hint: opts.hint,
    },
  );
}

/** The Shamir shares `init` stored, for a node that restarts sealed (none when they are PGP-encrypted). */
export function storedShares(state: StateDir): NodeBackOptions['shares'] {
  const init = state.readInit();
  if (!init || init.pgp || init.keys.length === 0) return undefined;
  return { keys: init.keys, threshold: init.threshold };
}
