/** What a failover drill does (fault, target, rates, times), its defaults, and the rules a run must satisfy. */
import { UsageError } from '../errors.js';
import type { PartitionMethod } from '../runtime/port.js';
import type { ClusterSpec } from '../spec/schema.js';
import type { FaultKind, FaultTarget } from './report.js';

export interface DrillConfig {
  readonly fault: FaultKind;
  readonly target: FaultTarget;
  /** Writes per second (open loop: a slow write does not delay the next). */
  readonly rate: number;
  /** Reads per second through each node. */
  readonly readRate: number;
  /** How long the fault lasts before it is healed. */
  readonly holdMs: number;
  readonly rounds: number;
  /** Traffic before the fault. */
  readonly warmupMs: number;
  /** Traffic after the cluster is healthy again. */
  readonly settleMs: number;
  /** Longest wait for the cluster to heal (and to be healthy before a round). */
  readonly healTimeoutMs: number;
  /** One request to one node; then the writer tries the next node. */
  readonly attemptTimeoutMs: number;
  /** A write not acknowledged by then counts as failed. */
  readonly writeDeadlineMs: number;
  readonly partitionMethod?: PartitionMethod | undefined;
  /** Also write through the active-node endpoint (default: when the cluster has one). */
  readonly viaEndpoint?: boolean;
}

export const DRILL_DEFAULTS = {
  rate: 20,
  readRate: 5,
  holdMs: 10_000,
  rounds: 1,
  warmupMs: 2_000,
  settleMs: 1_000,
  healTimeoutMs: 90_000,
  attemptTimeoutMs: 1_000,
  writeDeadlineMs: 10_000,
} as const;

/** Refuses drills vaultctl does not run, before anything is touched. */
export function validateDrillConfig(cfg: DrillConfig, spec: ClusterSpec): void {
  const doing = 'preparing the failover drill';
  if (cfg.target === 'all' && cfg.fault === 'partition')
    throw new UsageError(
      doing,
      'a partition of every node from every other is not a drill vaultctl runs',
      'partition the leader or a follower; --target all works with kill, stop and pause',
    );
  if (cfg.fault === 'step-down' && cfg.target !== 'leader')
    throw new UsageError(
      doing,
      `a step-down is something only the leader does; --target ${cfg.target} cannot step down`,
      'run --fault step-down with --target leader (the default)',
    );
  if (cfg.target === 'all' && spec.seal.type === 'shamir')
    throw new UsageError(
      doing,
      '--target all restarts every node, and this cluster uses Shamir shares: nothing would unseal it alone',
      'the drill for `all` proves auto-unseal; run it on a static, awskms or transit sealed cluster',
    );
}
