/**
 * The executor: walks a plan graph in dependency order. Steps that change one resource run one at
 * a time in plan order; starts whose dependencies are met run together (a start is the slow step,
 * and no container needs another running to start unless the plan says so); a readiness gate runs
 * the caller's check for its kind. A run that fails or is cancelled removes what it created.
 */

import type { ContainerRuntime } from '../../runtime/port.js';
import type { RenderedCluster } from '../../templates/rendered.js';
import type { Progress } from '../events.js';
import { observeCluster } from './observe.js';
import type { Observed, PlanGate, PlanOptions, PlanStep, UpPlan } from './plan.js';
import { describeStep, planUp } from './plan.js';
import { applyStep, type Created, rollback } from './resources.js';

/**
 * Readiness checks by container kind (order.ts names the kinds that have one). A check may hand
 * back a refined rendering (the unsealer's new node token): what is not applied yet is then
 * planned again from it, against the same observation.
 */
export type Gates = Readonly<
  Record<string, (gate: PlanGate, applied: readonly PlanStep[]) => Promise<RenderedCluster | undefined>>
>;

export interface ApplyDeps {
  readonly runtime: ContainerRuntime;
  readonly progress: Progress;
  readonly signal?: AbortSignal | undefined;
  readonly gates?: Gates;
}

export interface ApplyOptions {
  /** Remove what this run created when it fails (default true). */
  readonly rollback?: boolean;
  /** Stop between steps when the signal fires (default true); a node being recreated is not. */
  readonly interruptible?: boolean;
  readonly plan?: PlanOptions;
}

export interface Applied {
  /** The plan as applied (after any refinement by a gate). */
  readonly plan: UpPlan;
  readonly created: readonly Created[];
}

type Node = PlanStep | PlanGate;
const isStart = (n: Node) =>
  'action' in n && (n.action === 'start-container' || n.action === 'unpause-container');

/** Runs every start given together; once all settled, throws the first failure. */
async function startTogether(
  starts: readonly PlanStep[],
  run: (s: PlanStep) => Promise<void>,
): Promise<void> {
  const settled = await Promise.allSettled(starts.map(run));
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

async function runGate(
  g: PlanGate,
  applied: readonly PlanStep[],
  deps: ApplyDeps,
): Promise<RenderedCluster | undefined> {
  // A kind without a check passes: a caller recreating one node waits for it its own way.
  return deps.gates?.[g.kind]?.(g, applied);
}

export async function applyPlan(
  plan: UpPlan,
  observed: Observed,
  deps: ApplyDeps,
  opts: ApplyOptions = {},
): Promise<Applied> {
  const { runtime, progress, signal } = deps;
  const created: Created[] = [];
  const done = new Set<string>();
  let current = plan;
  const run = async (s: PlanStep) => {
    progress.step(describeStep(s));
    const made = await applyStep(runtime, s);
    if (made) created.push(made);
    done.add(s.id);
    progress.debug(describeStep(s), s.container?.hostname);
  };
  try {
    for (;;) {
      if (opts.interruptible !== false && signal?.aborted) throw signal.reason ?? new Error('aborted');
      const pending: Node[] = [...current.steps, ...current.gates].filter((n) => !done.has(n.id));
      if (pending.length === 0) break;
      const ready = pending.filter((n) => n.dependsOn.every((d) => done.has(d)));
      const single = ready.find((n): n is PlanStep => 'action' in n && !isStart(n));
      const starts = ready.filter((n): n is PlanStep => isStart(n));
      const gate = ready.find((n): n is PlanGate => !('action' in n));
      if (single) await run(single);
      else if (starts.length > 0) await startTogether(starts, run);
      else if (gate) {
        const refined = await runGate(
          gate,
          current.steps.filter((s) => done.has(s.id)),
          deps,
        );
        done.add(gate.id);
        if (refined) current = planUp(refined, observed, opts.plan);
      } else throw new Error(`internal: the plan has a cycle among ${pending.map((n) => n.id).join(', ')}`);
    }
  } catch (err) {
    if (opts.rollback !== false) await rollback(runtime, created, progress);
    throw err;
  }
  return { plan: current, created };
}

/** Observes, plans and applies in one call: for a part of the cluster (the unsealer, one node). */
export async function reconcile(
  rendered: RenderedCluster,
  deps: ApplyDeps,
  opts: ApplyOptions = {},
): Promise<Applied> {
  const observed = await observeCluster(deps.runtime, rendered);
  return applyPlan(planUp(rendered, observed, opts.plan), observed, deps, opts);
}
