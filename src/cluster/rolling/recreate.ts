/**
 * Recreating one node's container with what the spec renders now (a new image, a new seal
 * config): through the reconciler, stopped gracefully first (unless told not to), the volumes kept. Not interruptible
 * and never rolled back: a Ctrl-C half-way would leave a node without a container.
 */
import { errorMessage, RemoteError } from '../../errors.js';
import type { RenderedCluster } from '../../templates/rendered.js';
import type { Progress } from '../events.js';
import { reconcile } from '../reconcile/apply.js';
import { onlyContainers } from '../reconcile/plan.js';
import type { ManagedCluster, ManagedNode } from '../running.js';

export interface RecreateOptions {
  readonly progress: Progress;
  /** "Error <doing>: ..." when the runtime fails. */
  readonly doing: string;
  readonly hint: string;
  /** Stop the running container (30 s) before it is removed (default true). */
  readonly graceful?: boolean;
}

/**
 * Brings the node's container to the rendered one: nothing when it already is and runs, else
 * stop, remove, create and start. Returns whether anything was done.
 */
export async function recreateNode(
  cluster: ManagedCluster,
  node: ManagedNode,
  rendered: RenderedCluster,
  opts: RecreateOptions,
): Promise<boolean> {
  try {
    const applied = await reconcile(
      onlyContainers(rendered, [node.container]),
      { runtime: cluster.runtime(), progress: opts.progress },
      { rollback: false, interruptible: false, plan: { gracefulStop: opts.graceful !== false } },
    );
    return applied.plan.steps.length > 0;
  } catch (err) {
    throw new RemoteError(opts.doing, errorMessage(err), opts.hint, { cause: err });
  }
}
