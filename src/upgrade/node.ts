/**
 * One node's part of a rolling upgrade: recreate its container with the target image (same
 * volumes, network alias, ports, env and labels: the container the target spec renders), wait
 * until it is back as a healthy voter, and hand leadership away from it before that.
 */
import type { Progress } from '../cluster/events.js';
import type { NodeHandle, RunningCluster } from '../cluster/running.js';
import { errorMessage, RemoteError } from '../errors.js';
import type { ContainerRuntime, ContainerSpec } from '../runtime/port.js';
import type { StateDir } from '../state/state-dir.js';

export interface NodeStepDeps {
  readonly cluster: RunningCluster;
  readonly runtime: ContainerRuntime;
  readonly state: StateDir;
  readonly progress: Progress;
  readonly signal?: AbortSignal | undefined;
  /** Longest wait for a recreated node to be back (unsealed, caught up, healthy voter). */
  readonly nodeTimeoutMs: number;
}

/**
 * Stops the node gracefully, removes its container (the volumes stay) and creates and starts the
 * target one. Not interruptible: a Ctrl-C here would leave a node without a container.
 */
export async function recreateNode(
  node: NodeHandle,
  target: ContainerSpec,
  deps: NodeStepDeps,
): Promise<void> {
  const { runtime } = deps;
  try {
    await runtime.stopContainer(target.name, 30);
    await runtime.removeContainer(target.name);
    await runtime.createContainer(target);
    await runtime.startContainer(target.name);
  } catch (err) {
    throw new RemoteError(
      `recreating ${node.name} with ${target.image}`,
      errorMessage(err),
      `the other nodes keep serving; \`vaultctl up\` creates ${target.name} again from the saved spec, then rerun the upgrade`,
      { cause: err },
    );
  }
}

/** The leader's applied index and the autopilot state, read from the active node. */
async function leaderFacts(cluster: RunningCluster) {
  const active = await cluster.active({ timeoutMs: 2000 });
  if (!active) return undefined;
  const api = active.api({ timeoutMs: 3000 });
  const [leader, autopilot] = await Promise.all([api.leader(), api.autopilotState()]);
  return { active, applied: leader.raft_applied_index ?? 0, autopilot };
}

/**
 * Waits until the recreated node answers unsealed (a Shamir node is given the stored shares), has
 * applied the leader's index, and autopilot reports it a healthy voter and the cluster healthy.
 */
export async function waitNodeBack(node: NodeHandle, deps: NodeStepDeps, version: string): Promise<void> {
  const { cluster, signal } = deps;
  const deadline = cluster.clock.now() + deps.nodeTimeoutMs;
  const left = () => Math.max(1000, deadline - cluster.clock.now());
  const hint = `\`docker logs ${node.container}\` says why; the other nodes keep serving. Rerun the upgrade to go on once it is back, or roll it back (see the upgrade section of the README)`;
  const api = node.api({ timeoutMs: 2000 });
  await cluster.waitFor(
    `${node.name} to answer unsealed`,
    async () => {
      const h = await api.health();
      if (h.initialized && h.sealed && cluster.spec?.seal.type === 'shamir')
        await unsealShamir(node, deps.state);
      return h.initialized && !h.sealed ? true : undefined;
    },
    {
      timeoutMs: left(),
      intervalMs: 250,
      signal,
      node,
      doing: `waiting for ${node.name} to come back`,
      hint,
    },
  );
  const mark = (await leaderFacts(cluster).catch(() => undefined))?.applied ?? 0;
  await cluster.waitFor(
    `${node.name} to apply the leader's index ${mark}`,
    async () => ((await api.leader()).raft_applied_index ?? 0) >= mark || undefined,
    { timeoutMs: left(), intervalMs: 200, signal, node, doing: `waiting for ${node.name} to catch up`, hint },
  );
  await cluster.waitFor(
    `autopilot to report ${node.name} a healthy voter and the cluster healthy`,
    async () => {
      const f = await leaderFacts(cluster);
      const s = f?.autopilot.servers[node.name];
      // Autopilot calls a node healthy for a while after it stopped (last contact threshold): the
      // version the leader learnt from the node itself proves the new server talks to it.
      const heard = s?.version === undefined || s.version === version;
      return f?.autopilot.healthy &&
        s?.healthy &&
        heard &&
        (s.last_index ?? mark) >= mark &&
        f.autopilot.voters.includes(node.name)
        ? true
        : undefined;
    },
    { timeoutMs: left(), intervalMs: 500, signal, node, doing: `waiting for ${node.name} to rejoin`, hint },
  );
}

async function unsealShamir(node: NodeHandle, state: StateDir): Promise<void> {
  const init = state.readInit();
  if (!init || init.pgp) return;
  const api = node.api({ timeoutMs: 3000 });
  for (const key of init.keys.slice(0, init.threshold)) {
    const r = await api.unseal(key);
    if (!r.sealed) return;
  }
}

/**
 * Waits until autopilot, asked on the active node, reports the cluster healthy with failure
 * tolerance >= 1: only then may one more node go down.
 */
export async function waitSafeToStop(deps: NodeStepDeps): Promise<void> {
  await deps.cluster.waitFor(
    'a healthy cluster that can lose one node (autopilot healthy, failure tolerance >= 1)',
    async () => {
      const f = await leaderFacts(deps.cluster);
      return f?.autopilot.healthy && f.autopilot.failure_tolerance >= 1 ? true : undefined;
    },
    {
      timeoutMs: deps.nodeTimeoutMs,
      intervalMs: 500,
      signal: deps.signal,
      doing: 'checking that the cluster can lose one node',
      hint: 'no node was stopped in this step; `vaultctl health` shows what is wrong; rerun the upgrade once it is healthy',
    },
  );
}

/**
 * Asks the leader to step down and waits for another node to be active: raft elects among the
 * others, which the order made sure run the target. A leader elected again is asked again.
 * Returns the new leader.
 */
export async function stepDown(leader: NodeHandle, deps: NodeStepDeps, attempts = 3): Promise<NodeHandle> {
  const { cluster, signal } = deps;
  for (let i = 1; i <= attempts; i++) {
    await leader.api({ timeoutMs: 10_000 }).call('PUT', '/sys/step-down', `stepping down ${leader.name}`);
    const next = await cluster
      .waitFor(
        `a node other than ${leader.name} to be active`,
        async () => {
          const a = await cluster.active({ timeoutMs: 2000 });
          return a && a.name !== leader.name ? a : undefined;
        },
        { timeoutMs: 20_000, intervalMs: 100, signal },
      )
      .catch((err) => {
        if (signal?.aborted) throw err;
        return undefined;
      });
    if (next) return next;
    deps.progress.warn(`${leader.name} is active again after step-down ${i}/${attempts}; asking again`);
  }
  throw new RemoteError(
    `handing leadership away from ${leader.name}`,
    `after ${attempts} step-downs no other node became active`,
    `the upgraded nodes may not be healthy voters: \`vaultctl health\`; ${leader.name} was not touched, rerun the upgrade`,
  );
}
