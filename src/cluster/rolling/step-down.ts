/**
 * Handing leadership away: the active node is asked to step down and another node must become
 * active. Raft may elect the same node again; it is then asked again, up to `attempts` times.
 */
import { RemoteError } from '../../errors.js';
import type { Progress } from '../events.js';
import type { NodeHandle, RunningCluster } from '../running.js';

export interface StepDownOptions {
  readonly progress: Progress;
  readonly signal?: AbortSignal | undefined;
  readonly attempts?: number;
  /** How long each step-down gets for another node to become active. */
  readonly waitMs?: number;
  /** The hint of the error when no other node became active. */
  readonly hint?: string;
}

/** Steps `leader` down until another node is active; returns that node. */
export async function stepDown(
  cluster: RunningCluster,
  leader: NodeHandle,
  opts: StepDownOptions,
): Promise<NodeHandle> {
  const attempts = opts.attempts ?? 3;
  for (let i = 1; i <= attempts; i++) {
    await leader.api({ timeoutMs: 10_000 }).call('PUT', '/sys/step-down', `stepping down ${leader.name}`);
    const next = await cluster
      .waitFor(
        `a node other than ${leader.name} to be active`,
        async () => {
          const a = await cluster.active({ timeoutMs: 2000 });
          return a && a.name !== leader.name ? a : undefined;
        },
        { timeoutMs: opts.waitMs ?? 20_000, intervalMs: 100, signal: opts.signal },
      )
      .catch((err) => {
        if (opts.signal?.aborted) throw err;
        return undefined;
      });
    if (next) return next;
    opts.progress.warn(`${leader.name} is active again after step-down ${i}/${attempts}; asking again`);
  }
  throw new RemoteError(
    `handing leadership away from ${leader.name}`,
    `after ${attempts} step-downs no other node became active`,
    opts.hint ?? `\`vaultctl health\` shows the nodes; ${leader.name} was not touched`,
  );
}
