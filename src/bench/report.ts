/**
 * What a benchmark run measured, judged against the seed's targets. Pure: `runBench` (run.ts)
 * feeds it the load result and the client's counters.
 */
import type { HistogramSummary } from './histogram.js';
import type { LoadResult } from './load.js';
import type { NodeSecond } from './node-sampler.js';
import { secondsOver, type TimelineSecond } from './timeline.js';

/** The seed's targets (milliseconds, and a fraction for errors). */
export const TARGETS = {
  cachedReadP99: 2,
  vaultReadP99: 20,
  writeP99: 50,
  listP50: 50,
  listP99: 100,
  errorRate: 0.001,
} as const;

/** A benchmark's settings, parsed. */
export interface BenchConfig {
  readonly users: number;
  readonly thinkMinMs: number;
  readonly thinkMaxMs: number;
  readonly readRatio: number;
  /** Share of operations that list a tenant's exchanges (the seed's "List Secrets"); 0: none. */
  readonly listRatio: number;
  readonly durationMs: number;
  readonly warmupMs: number;
  /** Fixed arrival rate per second (open loop); absent for the closed loop. */
  readonly rate?: number | undefined;
  readonly tenants: number;
  readonly cache: boolean;
  /** Sample every node's metrics each second and print the timeline as a table. */
  readonly timeline?: boolean | undefined;
  /** Drive the load through the cluster's endpoint (HAProxy, one address) instead of the nodes. */
  readonly viaEndpoint?: boolean | undefined;
  /** The think time, duration and warm-up as the user wrote them: the report and progress echo them. */
  readonly as: { readonly think: string; readonly duration: string; readonly warmup: string };
}

/** "no data" when the run measured nothing to judge the target by: never counted as met. */
export type VerdictStatus = 'met' | 'missed' | 'no data';

export interface BenchVerdict {
  readonly target: string;
  /** The measured value; null with no data. */
  readonly value: number | null;
  /** True only when the status is "met". */
  readonly met: boolean;
  readonly status: VerdictStatus;
}

/** What `vaultctl bench --format json` prints. */
export interface BenchReport {
  readonly mode: LoadResult['mode'];
  readonly users: number;
  readonly think: string;
  readonly rate: number | null;
  readonly readRatio: number;
  readonly listRatio: number;
  readonly cache: boolean;
  readonly durationSeconds: number;
  /** Operations per second over the measured duration. */
  readonly throughput: number;
  readonly read: HistogramSummary;
  readonly readCached: HistogramSummary;
  readonly readVault: HistogramSummary;
  readonly write: HistogramSummary;
  /** List operations (count 0 without --list-ratio). */
  readonly list: HistogramSummary;
  readonly errors: number;
  /** A fraction of every measured operation. */
  readonly errorRate: number;
  readonly errorSamples: readonly string[];
  readonly dropped: number;
  readonly cacheHitRate: number;
  readonly failovers: number;
  readonly verdicts: readonly BenchVerdict[];
  readonly targetsMet: boolean;
  /** Per second of the measured run; with `--timeline` each second also has every node's metrics. */
  readonly timeline?: readonly TimelineEntry[];
  /**
   * Seconds whose p99 was over 50 ms (reads that reached a node, writes), seconds the bench's own
   * event loop stalled over 50 ms, and slow seconds in which it stalled over 20 ms.
   */
  readonly secondsOver50ms?: {
    readonly read: number;
    readonly write: number;
    readonly loop: number;
    readonly slowWithLoopStall: number;
  };
}

/** One second of the timeline with what each node's metrics said in it. */
export type TimelineEntry = TimelineSecond & {
  readonly nodes?: Readonly<Record<string, Omit<NodeSecond, 't'>>>;
};

/** The load's seconds with each node's second of the same `t` beside them. */
export function lineUp(
  timeline: readonly TimelineSecond[],
  nodes: Readonly<Record<string, readonly NodeSecond[]>> | undefined,
): TimelineEntry[] {
  if (!nodes) return [...timeline];
  const byT = Object.entries(nodes).map(
    ([name, secs]) => [name, new Map(secs.map((s) => [s.t, s]))] as const,
  );
  return timeline.map((s) => {
    const here: Record<string, Omit<NodeSecond, 't'>> = {};
    for (const [name, m] of byT) {
      const n = m.get(s.t);
      if (n) {
        const { t: _t, ...rest } = n;
        here[name] = rest;
      }
    }
    return { ...s, nodes: here };
  });
}

/** The counters of the VaultClient the load ran through. */
export interface BenchClientStats {
  readonly cacheHits: number;
  readonly cacheMisses: number;
  readonly failovers: number;
}

function verdict(target: string, samples: number, value: number, met: boolean): BenchVerdict {
  if (samples === 0) return { target, value: null, met: false, status: 'no data' };
  return { target, value, met, status: met ? 'met' : 'missed' };
}

/**
 * The verdict per target. The cached-read target counts only with the cache on, the list targets
 * only when the run lists (`listOn`). A target with no sample to judge it by (no cache hit, no
 * write, no operation at all) has no data: it is not met, so `--check` fails rather than pass on
 * nothing.
 */
export function judgeBench(
  measured: {
    readonly readCached: HistogramSummary;
    readonly readVault: HistogramSummary;
    readonly write: HistogramSummary;
    readonly list?: HistogramSummary;
    readonly errorRate: number;
    /** Every measured operation, failed ones included: the error rate's samples. */
    readonly operations: number;
  },
  cacheOn: boolean,
  listOn = false,
): BenchVerdict[] {
  const { readCached, readVault, write, errorRate, operations } = measured;
  const list = measured.list ?? { count: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0, mean: 0 };
  const p99 = (name: string, h: HistogramSummary, bound: number) =>
    verdict(`${name} p99 < ${bound} ms`, h.count, h.p99, h.p99 < bound);
  return [
    ...(cacheOn ? [p99('cached read', readCached, TARGETS.cachedReadP99)] : []),
    p99('Vault read', readVault, TARGETS.vaultReadP99),
    p99('write', write, TARGETS.writeP99),
    ...(listOn
      ? [
          verdict(`list p50 < ${TARGETS.listP50} ms`, list.count, list.p50, list.p50 < TARGETS.listP50),
          p99('list', list, TARGETS.listP99),
        ]
      : []),
    verdict(
      `error rate < ${TARGETS.errorRate * 100} %`,
      operations,
      errorRate * 100,
      errorRate < TARGETS.errorRate,
    ),
  ];
}

/** The cache hit rate (a fraction; 0 when nothing was read through the cache). */
export function hitRate(stats: BenchClientStats): number {
  const lookups = stats.cacheHits + stats.cacheMisses;
  return lookups ? stats.cacheHits / lookups : 0;
}

/** The report of one run: percentiles, throughput, errors, cache hit rate and the verdicts. */
export function benchReport(
  config: BenchConfig,
  res: LoadResult,
  stats: BenchClientStats,
  timeline?: readonly TimelineEntry[],
): BenchReport {
  const total = res.read.count + res.write.count + res.list.count + res.errors;
  const errorRate = total ? res.errors / total : 0;
  const read = res.read.summary();
  const readCached = res.readCached.summary();
  const readVault = res.readVault.summary();
  const write = res.write.summary();
  const list = res.list.summary();
  const verdicts = judgeBench(
    { readCached, readVault, write, list, errorRate, operations: total },
    config.cache,
    config.listRatio > 0,
  );
  const seconds = res.elapsedMs / 1000;
  return {
    mode: res.mode,
    users: config.users,
    think: config.as.think,
    rate: config.rate ?? null,
    readRatio: config.readRatio,
    listRatio: config.listRatio,
    cache: config.cache,
    durationSeconds: Math.round(seconds * 10) / 10,
    throughput: Math.round(((res.read.count + res.write.count + res.list.count) / seconds) * 10) / 10,
    read,
    readCached,
    readVault,
    write,
    list,
    errors: res.errors,
    errorRate,
    errorSamples: res.errorSamples,
    dropped: res.dropped,
    cacheHitRate: Math.round(hitRate(stats) * 1000) / 1000,
    failovers: stats.failovers,
    verdicts,
    targetsMet: verdicts.every((v) => v.met),
    ...(timeline ? { timeline, secondsOver50ms: secondsOver(timeline, 50) } : {}),
  };
}
