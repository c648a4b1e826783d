/**
 * `bootstrapCluster`: init, unseal, join, autopilot, audit, KV v2, policies, AppRole.
 *
 * Every step observes before it acts, so the whole use case is idempotent and resumable: run it
 * again after an interruption at any point and it finishes the job. Key material is written to the
 * state dir (0600) the moment the first node returns it, before anything else happens.
 */
import type { RunningCluster } from '../cluster/running.js';
import type { InitMaterial } from '../state/state-dir.js';
import {
  type BootstrapContext,
  type BootstrapDeps,
  type BootstrapOptions,
  bootstrapContext,
  type StepRecord,
} from './bootstrap-context.js';
import { bootstrapStabilization, configureAutopilot, configureCluster } from './configure.js';
import { initFirstNode, unsealFirstNode, waitForLeader, waitForNodes } from './init-leader.js';
import { joinFollowers, waitForVoters } from './join.js';
import { revokeRootToken } from './revoke-root.js';

export type { BootstrapDeps, BootstrapOptions, InitMaterial, StepRecord };

export interface BootstrapResult {
  readonly initialisedNow: boolean;
  readonly leader: string;
  readonly voters: readonly string[];
  readonly steps: readonly StepRecord[];
  /** Milliseconds from the start of the run to the end of each phase. */
  readonly timings: Readonly<Record<string, number>>;
}

/**
 * Brings the cluster vaultctl manages from "containers answer" to "initialised, unsealed, every
 * node a voter, configured". The API clients come from the cluster's node handles; its clock
 * times the waits; its token sources (BAO_TOKEN/VAULT_TOKEN, the admin credential) are asked for
 * a token when the cluster was initialised before this run.
 *
 * @throws UsageError for a cluster given only by addresses, and when key material or a token is
 *   missing; RemoteError when a node does not answer or a wait times out (with the node's log).
 */
export async function bootstrapCluster(
  cluster: RunningCluster,
  deps: BootstrapDeps,
  opts: BootstrapOptions = {},
): Promise<BootstrapResult> {
  const ctx = bootstrapContext(cluster, deps, opts);
  const statuses = await waitForNodes(ctx);
  const first = await initFirstNode(ctx, statuses);
  await unsealFirstNode(ctx, first);
  const leader = await waitForLeader(ctx, first);
  const stabilization = bootstrapStabilization(ctx);
  await configureAutopilot(ctx, leader, stabilization);
  await joinFollowers(ctx, leader);
  // The configuration (audit, KV, policies, tokens, AppRole) is written on the leader and does not
  // need the followers to be voters: it runs while autopilot promotes them.
  const voters = await together(waitForVoters(ctx, leader, stabilization), configureCluster(ctx, leader));
  if (stabilization) await configureAutopilot(ctx, leader);
  await waitForHealthy(ctx);
  if (opts.revokeRoot) await revokeRootToken(ctx, leader);
  return {
    initialisedNow: ctx.initialisedNow,
    leader: leader.name,
    voters,
    steps: ctx.steps,
    timings: ctx.timings,
  };
}

/** Both results once both have settled (never leaving one running behind a failure); the first failure. */
async function together<T>(a: Promise<T>, b: Promise<unknown>): Promise<T> {
  const [ra, rb] = await Promise.allSettled([a, b]);
  if (ra.status === 'rejected') throw ra.reason;
  if (rb.status === 'rejected') throw rb.reason;
  return ra.value;
}

/** The final word: every node unsealed, exactly one active. */
async function waitForHealthy(ctx: BootstrapContext): Promise<void> {
  await ctx.poll('every node unsealed with one active node', async () => {
    const hs = await Promise.all(ctx.cluster.nodes.map((n) => ctx.api(n).health()));
    const active = hs.filter((h) => h.initialized && !h.sealed && !h.standby).length;
    return hs.every((h) => h.initialized && !h.sealed) && active === 1 ? true : undefined;
  });
  ctx.mark('healthy');
}
