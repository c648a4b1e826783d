/**
 * What an upgrade did and what the writes saw, as the report shows it. Pure arithmetic on the
 * writer's records (unit-tested); times are milliseconds on one monotonic clock.
 */
import type { WriteRecord } from '../drill/report.js';

export interface StepReport {
  readonly action: 'snapshot' | 'recreate' | 'step-down';
  readonly node: string | null;
  readonly reason: string;
  /** The image the node was recreated with (recreate), the new leader (step-down). */
  readonly detail: string | null;
  readonly ms: number;
  /** Longest gap between write acknowledgements while the step ran; null without traffic. */
  readonly longestAckGapMs: number | null;
}

export interface TrafficReport {
  readonly sent: number;
  readonly acked: number;
  readonly failed: number;
  /** Acknowledged writes that did not read back afterwards. */
  readonly lost: number;
  readonly lostSamples: readonly number[];
  /** Longest gap between consecutive acknowledgements, from the first one to the end. */
  readonly longestAckGapMs: number | null;
}

/**
 * The longest time without an acknowledgement inside [from, to]: the acknowledgements in it, with
 * the last one before `from` (or `from`) and `to` as the ends. Null without any acknowledgement.
 */
export function longestAckGap(writes: readonly WriteRecord[], from: number, to: number): number | null {
  const acks = writes
    .filter((w) => w.ackAt !== undefined)
    .map((w) => w.ackAt!)
    .sort((a, b) => a - b);
  if (acks.length === 0) return null;
  const before = acks.filter((a) => a <= from);
  const start = before.length ? before[before.length - 1]! : from;
  const series = [start, ...acks.filter((a) => a > from && a <= to), to];
  let longest = 0;
  for (let i = 1; i < series.length; i++) longest = Math.max(longest, series[i]! - series[i - 1]!);
  return Math.round(longest);
}

/** The writer's figures over the whole upgrade: from its first acknowledgement to `endAt`. */
export function trafficReport(
  writes: readonly WriteRecord[],
  endAt: number,
  lost: readonly number[],
): TrafficReport {
  const acked = writes.filter((w) => w.ackAt !== undefined);
  const first = acked.length ? Math.min(...acked.map((w) => w.ackAt!)) : undefined;
  return {
    sent: writes.length,
    acked: acked.length,
    failed: writes.length - acked.length,
    lost: lost.length,
    lostSamples: lost.slice(0, 10),
    longestAckGapMs: first === undefined ? null : longestAckGap(writes, first, endAt),
  };
}
