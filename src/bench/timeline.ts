/**
 * The benchmark's per-second timeline: what the load saw in each second of the measured run
 * (latency percentiles per operation, operations, errors) beside the bench process's own
 * event-loop delay in that second, so a stall in the load generator can be told apart from a
 * stall in the cluster. Node metrics sampled in the same seconds (node-sampler.ts) are lined up
 * with it by `t`.
 */
import { type IntervalHistogram, monitorEventLoopDelay } from 'node:perf_hooks';
import { Histogram } from './histogram.js';

/** One operation kind in one second: count and latency in milliseconds. */
export interface SecondLatency {
  readonly n: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

/** The bench process's event-loop delay in one second, in milliseconds. */
export interface LoopDelay {
  readonly p99: number;
  readonly max: number;
  /**
   * CPU time the bench process used in the second (user + system, ms): near 1000 it is busy
   * itself; a long delay with little CPU means it was not scheduled (the host is overloaded).
   */
  readonly cpu?: number;
}

/** One second of the measured run (`t` counts from the end of the warm-up). */
export interface TimelineSecond {
  readonly t: number;
  /** Operations that started in this second and finished (failed ones included). */
  readonly ops: number;
  readonly errors: number;
  /** Reads that reached a node (cache hits are counted in `cached` only). */
  readonly read: SecondLatency;
  /** Reads the cache answered. */
  readonly cached: number;
  readonly write: SecondLatency;
  /** Present only when the run lists. */
  readonly list?: SecondLatency;
  /** Absent when the second had no event-loop sample (the run ended first). */
  readonly loop?: LoopDelay;
}

export type TimelineOp = 'read' | 'cached' | 'write' | 'list';

interface Bucket {
  read: Histogram;
  write: Histogram;
  list: Histogram;
  cached: number;
  errors: number;
}

const emptyBucket = (): Bucket => ({
  read: new Histogram(),
  write: new Histogram(),
  list: new Histogram(),
  cached: 0,
  errors: 0,
});

function secondLatency(h: Histogram): SecondLatency {
  const s = h.summary();
  return { n: s.count, p50: s.p50, p99: s.p99, max: s.max };
}

/**
 * Collects operations into one-second buckets by the time each started (its scheduled start in
 * the open loop), so a slow answer is charged to the second it was asked in: the second of a
 * stall shows the stall, not the seconds after it.
 */
export class Timeline {
  private readonly buckets: Bucket[];
  private readonly loop: (LoopDelay | undefined)[];
  private origin = 0;
  private monitor: IntervalHistogram | undefined;
  private ticker: ReturnType<typeof setInterval> | undefined;

  constructor(readonly seconds: number) {
    this.buckets = Array.from({ length: Math.max(0, Math.ceil(seconds)) }, emptyBucket);
    this.loop = new Array(this.buckets.length).fill(undefined);
  }

  /** The second `at` (a performance.now() time) falls in, or -1 outside the measured run. */
  second(at: number): number {
    const s = Math.floor((at - this.origin) / 1000);
    return s >= 0 && s < this.buckets.length ? s : -1;
  }

  /** Where second 0 starts: the end of the warm-up, in performance.now() time. */
  get start(): number {
    return this.origin;
  }

  /**
   * Sets second 0 and, unless `sampleLoop` is false, starts sampling the event-loop delay: a
   * 10 ms timer whose lateness is the delay, read and reset once a second.
   */
  begin(origin: number, sampleLoop = true): void {
    this.origin = origin;
    if (!sampleLoop) return;
    this.monitor = monitorEventLoopDelay({ resolution: 10 });
    this.monitor.enable();
    let last = performance.now();
    let cpu = process.cpuUsage();
    this.ticker = setInterval(() => {
      const now = performance.now();
      const used = process.cpuUsage(cpu);
      cpu = process.cpuUsage();
      this.recordLoop(last, {
        p99: this.monitor!.percentile(99) / 1e6,
        max: this.monitor!.max / 1e6,
        cpu: (used.user + used.system) / 1000,
      });
      this.monitor!.reset();
      last = now;
    }, 1000);
    this.ticker.unref();
  }

  /** Stops the event-loop sampling. */
  end(): void {
    if (this.ticker) clearInterval(this.ticker);
    this.monitor?.disable();
    this.ticker = undefined;
  }

  /** A delay sample covering the interval from `since`: charged to the second it started in. */
  recordLoop(since: number, d: LoopDelay): void {
    const s = this.second(since);
    if (s < 0) return;
    const prev = this.loop[s];
    const round = (v: number) => Math.round(v * 1000) / 1000;
    const cpu = (prev?.cpu ?? 0) + (d.cpu ?? 0);
    this.loop[s] = {
      p99: round(Math.max(prev?.p99 ?? 0, d.p99)),
      max: round(Math.max(prev?.max ?? 0, d.max)),
      ...(d.cpu !== undefined || prev?.cpu !== undefined ? { cpu: round(cpu) } : {}),
    };
  }

  /** An operation that started at `startedAt` and took `us` microseconds. */
  record(op: TimelineOp, startedAt: number, us: number): void {
    const s = this.second(startedAt);
    if (s < 0) return;
    const b = this.buckets[s]!;
    if (op === 'cached') b.cached += 1;
    else b[op].record(us);
  }

  /** A failed operation that started at `startedAt`. */
  error(startedAt: number): void {
    const s = this.second(startedAt);
    if (s >= 0) this.buckets[s]!.errors += 1;
  }

  /** Every second of the run, in order; `withList` adds the list column. */
  toSeconds(withList: boolean): TimelineSecond[] {
    return this.buckets.map((b, t) => {
      const loop = this.loop[t];
      return {
        t,
        ops: b.read.count + b.write.count + b.list.count + b.cached + b.errors,
        errors: b.errors,
        read: secondLatency(b.read),
        cached: b.cached,
        write: secondLatency(b.write),
        ...(withList ? { list: secondLatency(b.list) } : {}),
        ...(loop ? { loop } : {}),
      };
    });
  }
}

/** The bench's own event-loop delay above which a second's latencies are partly its own (ms). */
export const LOOP_STALL_MS = 20;

/**
 * How many seconds had a p99 above `ms`, per operation (the goal's "no second over 50 ms"); how
 * many had an event-loop delay above `ms`; and how many of the slow seconds had the bench's own
 * loop stalled over LOOP_STALL_MS, whose figures then include the load generator's wait.
 */
export function secondsOver(
  timeline: readonly TimelineSecond[],
  ms: number,
): { read: number; write: number; loop: number; slowWithLoopStall: number } {
  const slow = (s: TimelineSecond) =>
    (s.read.n > 0 && s.read.p99 > ms) || (s.write.n > 0 && s.write.p99 > ms);
  return {
    read: timeline.filter((s) => s.read.n > 0 && s.read.p99 > ms).length,
    write: timeline.filter((s) => s.write.n > 0 && s.write.p99 > ms).length,
    loop: timeline.filter((s) => (s.loop?.max ?? 0) > ms).length,
    slowWithLoopStall: timeline.filter((s) => slow(s) && (s.loop?.max ?? 0) > LOOP_STALL_MS).length,
  };
}
