/**
 * Samples every node's own metrics (its metrics-only listener) once a second during a benchmark
 * and turns consecutive readings into what happened in each second: raft commit time, FSM
 * batches and backlog, log-store writes, BoltDB freelist, spill and rebalance, leader contact,
 * Go GC pauses, the time the node spent handling requests, and any raft snapshot or log
 * compaction. Lined up by `t` with the load's timeline (timeline.ts), these tell a stall in the
 * cluster from one in the load generator. Parsing and differencing are pure.
 */
import { Agent } from 'node:https';
import { fetchMetricsText, parsePrometheusText, type Sample } from '../health/node-metrics.js';
import type { VaultTls } from '../vault/port.js';

/** A summary (timer) over one second: observations, their mean, and the node's sliding p99. */
export interface SummaryDelta {
  readonly n: number;
  readonly mean: number;
  /** The node's own p99 over its summary window (go-metrics: the last 10 s), not this second's. */
  readonly p99?: number;
}

/** One node in one second. Absent keys: nothing observed (a summary with no observation). */
export interface NodeSecond {
  readonly t: number;
  /** How long the metrics request took: a probe of the node's responsiveness, in ms. */
  readonly scrapeMs?: number;
  readonly values: Readonly<Record<string, number>>;
  readonly timings: Readonly<Record<string, SummaryDelta>>;
  /** Raft snapshots and log compactions that finished in this second (name -> duration). */
  readonly events?: Readonly<Record<string, SummaryDelta>>;
  /** The reading failed; the next good one covers this second too. */
  readonly error?: string;
}

type Kind = 'gauge' | 'counter' | 'summary';

interface Series {
  /** Key in the output. */
  readonly key: string;
  readonly name: string;
  readonly kind: Kind;
  /** Split by this label (e.g. BoltDB's `database`: fsm, logstore); otherwise summed over labels. */
  readonly by?: string;
  /** Multiplier into milliseconds (seconds: 1000); go-metrics timers are already in ms. */
  readonly scale?: number;
}

/**
 * What is read, by OpenBao 2.7.2's names (checked on a live node; Vault uses the same). Gauges
 * are the value at the end of the second; counters (and gauges that only ever grow, such as the
 * BoltDB spill count) are the increase in it; summaries are the observations in it.
 */
export const SERIES: readonly Series[] = [
  { key: 'fsmPending', name: 'vault_raft_storage_stats_fsm_pending', kind: 'gauge' },
  { key: 'appliedIndex', name: 'vault_raft_storage_stats_applied_index', kind: 'gauge' },
  { key: 'commitIndex', name: 'vault_raft_storage_stats_commit_index', kind: 'gauge' },
  { key: 'goroutines', name: 'vault_runtime_num_goroutines', kind: 'gauge' },
  { key: 'heapBytes', name: 'vault_runtime_alloc_bytes', kind: 'gauge' },
  { key: 'freePages', name: 'vault_raft_storage_bolt_freelist_free_pages', kind: 'gauge', by: 'database' },
  {
    key: 'pendingPages',
    name: 'vault_raft_storage_bolt_freelist_pending_pages',
    kind: 'gauge',
    by: 'database',
  },
  {
    key: 'freelistBytes',
    name: 'vault_raft_storage_bolt_freelist_allocated_bytes',
    kind: 'gauge',
    by: 'database',
  },
  { key: 'raftApply', name: 'vault_raft_apply', kind: 'counter' },
  { key: 'elections', name: 'vault_raft_state_candidate', kind: 'counter' },
  { key: 'becameLeader', name: 'vault_raft_state_leader', kind: 'counter' },
  { key: 'spills', name: 'vault_raft_storage_bolt_spill_count', kind: 'counter', by: 'database' },
  { key: 'rebalances', name: 'vault_raft_storage_bolt_rebalance_count', kind: 'counter', by: 'database' },
  { key: 'boltWrites', name: 'vault_raft_storage_bolt_write_count', kind: 'counter', by: 'database' },
  // The Go collector's own series, current at every scrape (vault_runtime_* are refreshed only
  // every few seconds, which would pile several seconds' pauses into one).
  { key: 'gcRuns', name: 'go_gc_duration_seconds_count', kind: 'counter' },
  { key: 'gcPauseMs', name: 'go_gc_duration_seconds_sum', kind: 'counter', scale: 1000 },
  { key: 'handleRequest', name: 'vault_core_handle_request', kind: 'summary' },
  { key: 'commitTime', name: 'vault_raft_commitTime', kind: 'summary' },
  { key: 'storeLogs', name: 'vault_raft_boltdb_storeLogs', kind: 'summary' },
  { key: 'fsmApplyBatch', name: 'vault_raft_fsm_applyBatch', kind: 'summary' },
  { key: 'fsmEnqueue', name: 'vault_raft_fsm_enqueue', kind: 'summary' },
  { key: 'txnCommit', name: 'vault_raft_storage_txn_commit', kind: 'summary' },
  { key: 'barrierPut', name: 'vault_barrier_put', kind: 'summary' },
  { key: 'appendEntries', name: 'vault_raft_replication_appendEntries_rpc', kind: 'summary' },
  { key: 'lastContact', name: 'vault_raft_leader_lastContact', kind: 'summary' },
  { key: 'spillTime', name: 'vault_raft_storage_bolt_spill_time', kind: 'summary', by: 'database' },
  {
    key: 'rebalanceTime',
    name: 'vault_raft_storage_bolt_rebalance_time',
    kind: 'summary',
    by: 'database',
  },
  { key: 'gcPause', name: 'go_gc_duration_seconds', kind: 'summary', scale: 1000 },
];

/** Summaries named like these are raft snapshots and log compactions: reported as events. */
const EVENT = /^vault_raft_(?:snapshot_\w+|compactLogs|fsm_snapshot|fsm_restore\w*|fsm_restoreUserSnapshot)$/;

interface SummaryReading {
  readonly count: number;
  readonly sum: number;
  readonly p99?: number;
}

/** One node's metrics at one moment, keyed by output key (`key` or `key.<label value>`). */
export interface NodeReading {
  readonly values: Readonly<Record<string, number>>;
  readonly summaries: Readonly<Record<string, SummaryReading>>;
  readonly events: Readonly<Record<string, SummaryReading>>;
}

const keyOf = (s: Series, labels: Readonly<Record<string, string>>) =>
  s.by && labels[s.by] ? `${s.key}.${labels[s.by]}` : s.key;

/** The series of `SERIES` (and every snapshot/compaction summary) in one metrics text. */
export function readingFrom(samples: readonly Sample[]): NodeReading {
  const byName = new Map<string, Sample[]>();
  for (const s of samples) {
    const list = byName.get(s.name);
    if (list) list.push(s);
    else byName.set(s.name, [s]);
  }
  const values: Record<string, number> = {};
  const summaries: Record<string, SummaryReading> = {};
  const summary = (name: string, k: (labels: Readonly<Record<string, string>>) => string) => {
    const out: Record<string, { count: number; sum: number; p99?: number }> = {};
    const at = (key: string) => {
      out[key] ??= { count: 0, sum: 0 };
      return out[key];
    };
    for (const c of byName.get(`${name}_count`) ?? []) at(k(c.labels)).count += c.value;
    for (const c of byName.get(`${name}_sum`) ?? []) at(k(c.labels)).sum += c.value;
    for (const c of byName.get(name) ?? [])
      if (c.labels.quantile === '0.99' && !Number.isNaN(c.value)) {
        const o = out[k(c.labels)];
        if (o) o.p99 = Math.max(o.p99 ?? 0, c.value);
      }
    return out;
  };
  for (const s of SERIES) {
    if (s.kind === 'summary')
      Object.assign(
        summaries,
        summary(s.name, (l) => keyOf(s, l)),
      );
    else
      for (const x of byName.get(s.name) ?? []) {
        if (Number.isNaN(x.value)) continue;
        const key = keyOf(s, x.labels);
        values[key] = (values[key] ?? 0) + x.value;
      }
  }
  const events: Record<string, SummaryReading> = {};
  for (const name of byName.keys()) {
    if (!name.endsWith('_count')) continue;
    const base = name.slice(0, -'_count'.length);
    if (EVENT.test(base))
      Object.assign(
        events,
        summary(base, () => base.replace(/^vault_raft_/, '')),
      );
  }
  return { values, summaries, events };
}

const round = (v: number) => Math.round(v * 1000) / 1000;

function deltas(
  prev: Readonly<Record<string, SummaryReading>>,
  cur: Readonly<Record<string, SummaryReading>>,
  scaleOf: (key: string) => number,
): Record<string, SummaryDelta> {
  const out: Record<string, SummaryDelta> = {};
  for (const [key, c] of Object.entries(cur)) {
    const p = prev[key] ?? { count: 0, sum: 0 };
    const n = c.count - p.count;
    // A counter that went down: the node restarted; its new totals are this second's.
    const [dn, ds] = n < 0 ? [c.count, c.sum] : [n, c.sum - p.sum];
    if (dn <= 0) continue;
    const scale = scaleOf(key);
    out[key] = {
      n: dn,
      mean: round((ds / dn) * scale),
      ...(c.p99 !== undefined ? { p99: round(c.p99 * scale) } : {}),
    };
  }
  return out;
}

const seriesOf = new Map(SERIES.map((s) => [s.key, s]));
const scaleFor = (key: string) => seriesOf.get(key.split('.')[0]!)?.scale ?? 1;

/** What happened between two readings of one node, as the second `t`. */
export function nodeSecond(t: number, prev: NodeReading, cur: NodeReading, scrapeMs?: number): NodeSecond {
  const values: Record<string, number> = {};
  for (const [key, v] of Object.entries(cur.values)) {
    const s = seriesOf.get(key.split('.')[0]!)!;
    const scale = s.scale ?? 1;
    if (s.kind === 'gauge') values[key] = round(v * scale);
    else {
      const d = v - (prev.values[key] ?? 0);
      values[key] = round((d < 0 ? v : d) * scale);
    }
  }
  const timings = deltas(prev.summaries, cur.summaries, scaleFor);
  const events = deltas(prev.events, cur.events, () => 1);
  return {
    t,
    ...(scrapeMs !== undefined ? { scrapeMs: round(scrapeMs) } : {}),
    values,
    timings,
    ...(Object.keys(events).length > 0 ? { events } : {}),
  };
}

/** A node to sample: its name and the address of its metrics listener. */
export interface SampledNode {
  readonly name: string;
  readonly address: string;
}

export interface NodeSamplerOptions {
  readonly tls?: VaultTls | undefined;
  /** Reads one node's metrics text (default: GET /v1/sys/metrics on its metrics listener). */
  readonly fetch?: (address: string) => Promise<string>;
  readonly intervalMs?: number;
}

/**
 * Polls every node once per interval, aligned to the timeline's seconds: at the start of second 0
 * and then at the end of every second, so the difference between two readings is what happened
 * in the second between them. A reading that fails is recorded as an error; the
 * next good one is differenced against the last good one.
 */
export class NodeSampler {
  private readonly out = new Map<string, NodeSecond[]>();
  private stopped = false;
  private running: Promise<void> | undefined;
  private readonly agent: Agent;
  private readonly fetch: (address: string) => Promise<string>;
  private readonly interval: number;

  constructor(
    private readonly nodes: readonly SampledNode[],
    opts: NodeSamplerOptions = {},
  ) {
    // One kept-alive connection per node: a TLS handshake every second would add load of its own.
    this.agent = new Agent({ keepAlive: true, maxSockets: 1 });
    this.interval = opts.intervalMs ?? 1000;
    this.fetch =
      opts.fetch ??
      ((address) => fetchMetricsText(address, { tls: opts.tls, timeoutMs: 2000, agent: this.agent }));
    for (const n of nodes) this.out.set(n.name, []);
  }

  /** Starts sampling for `seconds` seconds from `origin` (a performance.now() time). */
  start(origin: number, seconds: number): void {
    this.running = this.loop(origin, seconds);
  }

  private async loop(origin: number, seconds: number): Promise<void> {
    const last = new Map<string, { reading: NodeReading; t: number }>();
    for (let k = 0; k <= seconds && !this.stopped; k++) {
      const at = origin + k * this.interval;
      const wait = at - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      if (this.stopped) break;
      await Promise.all(
        this.nodes.map(async (n) => {
          const began = performance.now();
          try {
            const reading = readingFrom(parsePrometheusText(await this.fetch(n.address)));
            const prev = last.get(n.name);
            if (prev)
              this.out.get(n.name)!.push(nodeSecond(k - 1, prev.reading, reading, performance.now() - began));
            last.set(n.name, { reading, t: k });
          } catch (err) {
            if (k >= 1)
              this.out
                .get(n.name)!
                .push({ t: k - 1, values: {}, timings: {}, error: (err as Error).message });
          }
        }),
      );
    }
  }

  /**
   * Returns each node's seconds in order, once the reading at the end of the last second is in;
   * `now` (a cancelled run) stops at once.
   */
  async stop(now = false): Promise<Record<string, NodeSecond[]>> {
    if (now) this.stopped = true;
    await this.running;
    this.agent.destroy();
    return Object.fromEntries(this.out);
  }
}
