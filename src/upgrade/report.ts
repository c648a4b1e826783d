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

/** What a stopped run knows about where it stopped; plain data, so `howToGoOn` is unit-tested. */
export interface StopFacts {
  readonly cancelled: boolean;
  readonly targetImage: string;
  readonly targetVersion: string;
  /** Each node: its container, and whether it runs the target (before this run or done in it). */
  readonly nodes: readonly {
    readonly name: string;
    readonly container: string;
    readonly onTarget: boolean;
  }[];
  /** Nodes recreated and healthy on the target in this run. */
  readonly done: readonly string[];
  /** The node whose recreation started and did not finish (stopped, missing or not healthy). */
  readonly touching: string | undefined;
  /** True when the saved spec names the target image (a node was healthy on it). */
  readonly saved: boolean;
  readonly snapshot: string | undefined;
}

/**
 * What a stopped run left, and a hint that, followed, cannot lower the failure tolerance: it
 * never sends to `vaultctl up` while `up` would recreate more than the one node that is out
 * (issue 26: the hint said `vaultctl up`, which recreated every node with an image that does
 * not serve).
 */
export function howToGoOn(f: StopFacts): { state: string; hint: string } {
  const why = f.cancelled ? 'cancelled' : 'stopped';
  const out = f.touching ? f.nodes.find((n) => n.name === f.touching) : undefined;
  const old = f.nodes.filter((n) => !n.onTarget && !f.done.includes(n.name) && n.name !== f.touching);
  const state =
    `upgrade ${why}: ${f.done.length ? `${f.done.join(', ')} recreated with ${f.targetImage} in this run and healthy` : 'no node was upgraded in this run'}` +
    (out ? `; ${out.name} was being recreated with ${f.targetImage} and is not back` : '') +
    `; ${old.length ? `${old.map((n) => n.name).join(', ')} ${old.length === 1 ? 'was' : 'were'} not touched` : 'no node is left on the old image'}` +
    `; the saved spec ${f.saved ? `names ${f.targetImage}` : 'still names the old image (this run did not change it)'}.`;
  const restore = f.snapshot ? `; if an older server cannot read the data, restore ${f.snapshot}` : '';
  if (!out)
    return {
      state,
      hint: `the other nodes kept quorum. To finish, run the same command again: nodes on ${f.targetVersion} are skipped and each step first checks the cluster can lose one node${restore}`,
    };
  if (!f.saved)
    return {
      state,
      hint:
        `\`vaultctl up\` recreates ${out.name} alone with the old image from the saved spec (the other nodes match it and are left alone; \`vaultctl up --dry-run\` shows that first); ` +
        `\`docker logs ${out.container}\` says why ${f.targetImage} did not serve. Fix the target before running the upgrade again${restore}`,
    };
  if (old.length === 0)
    return {
      state,
      hint: `\`vaultctl up\` recreates ${out.name} from the saved spec (${f.targetImage}, which the other nodes run); \`docker logs ${out.container}\` says why it stopped${restore}`,
    };
  return {
    state,
    hint:
      `bring ${out.name} back alone: \`docker logs ${out.container}\` says why it stopped, \`docker start ${out.container}\` starts it again; then run the same upgrade command again. ` +
      `Do not run \`vaultctl up\` before: the saved spec names ${f.targetImage}, so it would also recreate ${old.map((n) => n.name).join(', ')} at the same time${restore}`,
  };
}
