/**
 * What a failover drill round observed, and the figures computed from it (summary.ts judges
 * them). Pure: the drill (round.ts) records timelines; everything here is arithmetic on them,
 * unit-tested. Times are milliseconds on one monotonic clock.
 */
import type { PartitionMethod } from '../runtime/port.js';
import type { RequestFailure } from '../vault/port.js';

export const FAULT_KINDS = ['kill', 'stop', 'pause', 'partition', 'step-down'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];
export const FAULT_TARGETS = ['leader', 'follower', 'all'] as const;
export type FaultTarget = (typeof FAULT_TARGETS)[number];

/** What one failed request hit: the node it went to, the kind of failure and its message. */
export interface RequestError {
  readonly node: string;
  /** `other`: not a request error (a bug, if ever seen). */
  readonly kind: RequestFailure | 'other';
  /** The HTTP status, for kind `http`. */
  readonly status?: number;
  readonly message: string;
  /** How long the request took until it failed. */
  readonly tookMs: number;
}

/** One numbered write: when it was issued, and when and where it was acknowledged (if ever). */
export interface WriteRecord {
  readonly seq: number;
  readonly issuedAt: number;
  ackAt?: number;
  node?: string;
  attempts: number;
  /** The last failed attempt's error (absent when no attempt failed). */
  lastError?: RequestError;
}

export interface ReadRecord {
  readonly node: string;
  readonly at: number;
  readonly ok: boolean;
  readonly error?: RequestError;
}

export type NodeRole = 'active' | 'standby' | 'sealed' | 'down';

/** One answer of a node to the role monitor; `sentAt` is when the request left. */
export interface RoleSample {
  readonly node: string;
  readonly sentAt: number;
  readonly role: NodeRole;
}

export interface RoundTimeline {
  readonly round: number;
  readonly fault: FaultKind;
  readonly target: FaultTarget;
  readonly partitionMethod?: PartitionMethod;
  readonly victims: readonly string[];
  readonly leaderBefore: string;
  leaderAfter?: string;
  readonly startAt: number;
  faultAt: number;
  healAt: number;
  /** The faulted nodes answer unsealed and have applied the leader's index at heal time. */
  rejoinedAt?: number;
  /** `health` judges the cluster healthy again (voters, autopilot). */
  healthyAt?: number;
  endAt: number;
  readonly writes: WriteRecord[];
  readonly reads: ReadRecord[];
  readonly roles: RoleSample[];
  /** Acknowledged writes whose value did not read back from the leader afterwards. */
  lost: number[];
}

export interface RoundReport {
  readonly round: number;
  readonly fault: FaultKind;
  readonly target: FaultTarget;
  readonly partitionMethod: PartitionMethod | null;
  readonly victims: readonly string[];
  readonly leaderBefore: string;
  readonly leaderAfter: string | null;
  readonly leaderChanged: boolean;
  /** Fault -> a node other than the old leader (any node for target `all`) answers as active. */
  readonly newLeaderMs: number | null;
  /** Last acknowledgement before the fault -> first acknowledgement of a write issued after it. */
  readonly writeUnavailableMs: number | null;
  /** Longest gap between consecutive acknowledgements, from the last one before the fault to the end. */
  readonly longestAckGapMs: number | null;
  /** The larger of the two above: what --max-rto judges. */
  readonly rtoMs: number | null;
  readonly writes: { readonly sent: number; readonly acked: number; readonly failed: number };
  readonly reads: {
    readonly sent: number;
    readonly failedOnFaulted: number;
    readonly failedOnOthers: number;
  };
  readonly lostWrites: number;
  readonly lostSamples: readonly number[];
  /**
   * Writes issued after the fault and acknowledged through a faulted node before the heal. For a
   * partition this must be 0: a cut-off leader cannot commit, so it must not acknowledge.
   */
  readonly ackedByFaulted: number;
  /**
   * Writes issued after the fault and acknowledged by the other nodes before the heal: the cluster
   * served writes while the fault lasted (0 when failing over took longer than the fault).
   */
  readonly ackedDuringFault: number;
  /** Heal -> the faulted nodes are back, unsealed and caught up. */
  readonly rejoinMs: number | null;
  /** Heal -> the whole cluster is healthy. */
  readonly healMs: number | null;
  readonly healed: boolean;
  readonly faultHeldMs: number;
  /** Every read that failed, with the node it went to and its error. */
  readonly failedReads: readonly FailedRequest[];
  /** Every write never acknowledged, with the error of its last attempt. */
  readonly failedWrites: readonly FailedRequest[];
  /** The same writes sent through the active-node endpoint; null without one. */
  readonly endpoint?: EndpointRound | null;
}

/** What a client that knows only the endpoint's address saw in a round. */
export interface EndpointRound {
  readonly writeUnavailableMs: number | null;
  readonly longestAckGapMs: number | null;
  readonly rtoMs: number | null;
  readonly writes: { readonly sent: number; readonly acked: number; readonly failed: number };
  readonly lostWrites: number;
  readonly lostSamples: readonly number[];
}

/**
 * A failed read, or a write never acknowledged. `kind` `unsent` is a write that was held back
 * until its deadline because no node took writes (the writer's gate) and never went out.
 */
export interface FailedRequest {
  /** The write's sequence number; null for a read. */
  readonly seq: number | null;
  /** The node the (last) request went to; null for an unsent write. */
  readonly node: string | null;
  /** The node was one of the faulted ones. */
  readonly faulted: boolean;
  /** When the request was sent, relative to the fault (negative: before it). */
  readonly atMs: number;
  readonly tookMs: number | null;
  readonly kind: RequestError['kind'] | 'unsent';
  readonly status: number | null;
  readonly message: string;
}

const round1 = (ms: number) => Math.round(ms);

export function analyzeRound(t: RoundTimeline): RoundReport {
  const acks = t.writes
    .filter((w) => w.ackAt !== undefined)
    .map((w) => w.ackAt!)
    .sort((a, b) => a - b);
  const before = acks.filter((a) => a <= t.faultAt);
  const lastAckBefore = before.length ? before[before.length - 1]! : undefined;
  const afterIssued = t.writes
    .filter((w) => w.issuedAt >= t.faultAt && w.ackAt !== undefined)
    .map((w) => w.ackAt!);
  const firstAckAfter = afterIssued.length ? Math.min(...afterIssued) : undefined;
  const writeUnavailableMs =
    lastAckBefore !== undefined && firstAckAfter !== undefined ? firstAckAfter - lastAckBefore : null;

  let longestAckGapMs: number | null = null;
  const from = lastAckBefore ?? t.faultAt;
  const series = [from, ...acks.filter((a) => a > from), t.endAt];
  for (let i = 1; i < series.length; i++) {
    const gap = series[i]! - series[i - 1]!;
    if (longestAckGapMs === null || gap > longestAckGapMs) longestAckGapMs = gap;
  }
  const rtoMs =
    writeUnavailableMs === null && longestAckGapMs === null
      ? null
      : Math.max(writeUnavailableMs ?? 0, longestAckGapMs ?? 0);

  const victims = new Set(t.victims);
  const newLeader = t.roles
    .filter(
      (s) =>
        s.sentAt >= t.faultAt && s.role === 'active' && (t.target === 'all' || s.node !== t.leaderBefore),
    )
    .sort((a, b) => a.sentAt - b.sentAt)[0];
  const newLeaderMs =
    t.target === 'follower' || !newLeader ? null : Math.max(0, newLeader.sentAt - t.faultAt);

  const failedWrites = t.writes.filter((w) => w.ackAt === undefined);
  const failed = failedWrites.length;
  // The nodes that acknowledged writes issued after the fault, before the heal.
  const inFault = t.writes
    .filter((w) => w.issuedAt >= t.faultAt && w.ackAt !== undefined && w.ackAt <= t.healAt)
    .flatMap((w) => (w.node === undefined ? [] : [w.node]));
  return {
    round: t.round,
    fault: t.fault,
    target: t.target,
    partitionMethod: t.partitionMethod ?? null,
    victims: [...t.victims],
    leaderBefore: t.leaderBefore,
    leaderAfter: t.leaderAfter ?? null,
    leaderChanged: t.leaderAfter !== undefined && t.leaderAfter !== t.leaderBefore,
    newLeaderMs: newLeaderMs === null ? null : round1(newLeaderMs),
    writeUnavailableMs: writeUnavailableMs === null ? null : round1(writeUnavailableMs),
    longestAckGapMs: longestAckGapMs === null ? null : round1(longestAckGapMs),
    rtoMs: rtoMs === null ? null : round1(rtoMs),
    writes: { sent: t.writes.length, acked: t.writes.length - failed, failed },
    reads: {
      sent: t.reads.length,
      failedOnFaulted: t.reads.filter((r) => !r.ok && victims.has(r.node)).length,
      failedOnOthers: t.reads.filter((r) => !r.ok && !victims.has(r.node)).length,
    },
    lostWrites: t.lost.length,
    lostSamples: t.lost.slice(0, 10),
    ackedByFaulted: inFault.filter((node) => victims.has(node)).length,
    ackedDuringFault: inFault.filter((node) => !victims.has(node)).length,
    rejoinMs: t.rejoinedAt === undefined ? null : round1(t.rejoinedAt - t.healAt),
    healMs: t.healthyAt === undefined ? null : round1(t.healthyAt - t.healAt),
    healed: t.healthyAt !== undefined,
    faultHeldMs: round1(t.healAt - t.faultAt),
    failedReads: t.reads.filter((r) => !r.ok).map((r) => failure(t, r.at, null, r.error, r.node)),
    failedWrites: failedWrites.map((w) => failure(t, w.issuedAt, w.seq, w.lastError)),
  };
}

function failure(
  t: RoundTimeline,
  at: number,
  seq: number | null,
  err: RequestError | undefined,
  node: string | undefined = err?.node,
): FailedRequest {
  return {
    seq,
    node: node ?? null,
    faulted: node !== undefined && t.victims.includes(node),
    atMs: round1(at - t.faultAt),
    tookMs: err ? err.tookMs : null,
    kind: err ? err.kind : 'unsent',
    status: err?.status ?? null,
    message: err ? err.message : 'not sent: no node took writes until its deadline (held behind the gate)',
  };
}
