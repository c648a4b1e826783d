/**
 * `up` recreating nodes of a serving cluster (a changed configuration, or containers an earlier
 * release made without the security profile): one node at a time, the active one last, each back
 * unsealed and caught up with the leader before the next goes. Quorum holds throughout, so the
 * cluster keeps serving and no acknowledged write is lost. A cluster that is not serving (stopped,
 * sealed, not initialised) is left to the plan's all-at-once recreation.
 */
import type { Progress } from '../cluster/events.js';
import { pollUntil } from '../cluster/poll.js';
import { reconcile } from '../cluster/reconcile/apply.js';
import type { UpPlan } from '../cluster/reconcile/plan.js';
import { onlyContainers } from '../cluster/reconcile/plan.js';
import { RemoteError } from '../errors.js';
import type { ContainerRuntime } from '../runtime/port.js';
import { LABELS } from '../runtime/port.js';
import { nodeAddress } from '../spec/names.js';
import type { StateDir } from '../state/state-dir.js';
import type { RenderedCluster } from '../templates/rendered.js';
import type { VaultConnector, VaultTls } from '../vault/port.js';

export interface RollingDeps {
  readonly runtime: ContainerRuntime;
  readonly connect: VaultConnector;
  readonly progress: Progress;
  readonly signal?: AbortSignal | undefined;
}

interface Target {
  readonly node: string;
  readonly address: string;
  readonly container: string;
}

/**
 * Recreates, one by one (through the reconciler), the nodes `plan` would remove and create again,
 * and returns the containers it recreated; the caller plans again for the rest. Recreates nothing
 * when fewer than three nodes or a node to recreate is not serving now (nothing to keep serving).
 */
export async function recreateNodesOneByOne(
  rendered: RenderedCluster,
  plan: UpPlan,
  state: StateDir,
  deps: RollingDeps,
  opts: { readonly tls: VaultTls | undefined; readonly nodeTimeoutMs: number },
): Promise<readonly string[]> {
  const spec = rendered.spec;
  const removed = new Set(plan.steps.filter((s) => s.action === 'remove-container').map((s) => s.target));
  const targets: Target[] = [];
  for (const c of rendered.containers) {
    if (c.labels[LABELS.kind] !== 'node' || !removed.has(c.name)) continue;
    const node = spec.nodes.find((n) => n.name === c.labels[LABELS.node]);
    if (node) targets.push({ node: node.name, address: nodeAddress(spec, node), container: c.name });
  }
  if (targets.length === 0 || spec.nodes.length < 3) return [];
  const api = (t: Target) => deps.connect({ address: t.address, timeoutMs: 2000, tls: opts.tls });
  const now = await Promise.all(
    targets.map((t) =>
      api(t)
        .health()
        .catch(() => undefined),
    ),
  );
  if (now.some((h) => !h?.initialized || h.sealed)) return [];

  // Standbys first, the active node last: one leader change, not one per node.
  const order = targets
    .map((t, i) => ({ t, active: now[i]?.standby === false }))
    .sort((a, b) => Number(a.active) - Number(b.active))
    .map((x) => x.t);
  for (const t of order) {
    deps.progress.step(`recreating ${t.node} (one node at a time, the cluster keeps serving)`);
    // Not interruptible and never rolled back: a Ctrl-C half-way would leave a node without a container.
    await reconcile(
      onlyContainers(rendered, [t.container]),
      { runtime: deps.runtime, progress: deps.progress },
      { rollback: false, interruptible: false, plan: { gracefulStop: true } },
    );
    await waitBack(t, targets, state, deps, opts);
    deps.progress.done(`${t.node} recreated and caught up`);
  }
  return order.map((t) => t.container);
}

/** Waits until the node answers unsealed and has applied what the active node had applied. */
async function waitBack(
  t: Target,
  all: readonly Target[],
  state: StateDir,
  deps: RollingDeps,
  opts: { readonly tls: VaultTls | undefined; readonly nodeTimeoutMs: number },
): Promise<void> {
  const connect = (address: string) => deps.connect({ address, timeoutMs: 2000, tls: opts.tls });
  const node = connect(t.address);
  const hint = `\`docker logs ${t.container}\` says why; the other nodes keep serving. Fix it, then run \`vaultctl up\` again`;
  const poll = { timeoutMs: opts.nodeTimeoutMs, intervalMs: 250, signal: deps.signal };
  const init = shamirKeys(state);
  try {
    await pollUntil(
      async () => {
        const h = await node.health();
        if (h.initialized && h.sealed && init) {
          for (const key of init) if (!(await node.unseal(key)).sealed) break;
        }
        return h.initialized && !h.sealed ? true : undefined;
      },
      { ...poll, what: `${t.node} to answer unsealed` },
    );
    // The leader's applied index now, from any node that answers as active.
    let mark = 0;
    for (const other of all) {
      const l = await connect(other.address)
        .leader()
        .catch(() => undefined);
      if (l?.is_self) mark = Math.max(mark, l.raft_applied_index ?? 0);
    }
    await pollUntil(async () => ((await node.leader()).raft_applied_index ?? 0) >= mark || undefined, {
      ...poll,
      what: `${t.node} to apply the leader's index ${mark}`,
    });
  } catch (err) {
    const logs = await deps.runtime.containerLogs(t.container, 20).catch(() => '(log not available)');
    throw new RemoteError(
      `recreating ${t.node}`,
      `${(err as Error).message}\n--- last lines of ${t.container} ---\n${logs.trimEnd()}`,
      hint,
      { cause: err },
    );
  }
}

/** The stored Shamir unseal shares vaultctl may use itself; undefined for auto-unseal or PGP. */
function shamirKeys(state: StateDir): readonly string[] | undefined {
  const init = state.readInit();
  if (init?.keyKind !== 'unseal' || init.pgp) return undefined;
  return init.keys.slice(0, init.threshold);
}
