/**
 * `vaultctl bench --format vault-benchmark`: the run in the JSON shape of hashicorp/vault-benchmark's
 * report (`vault-benchmark run -report_mode=json`, read back by `vault-benchmark review`), so runs
 * of both tools compare side by side. That report is `{"target_addr", "metrics"}` where `metrics`
 * maps each test's name, and "total", to a vegeta Metrics value (tsenart/vegeta lib/metrics.go):
 * durations in nanoseconds, timestamps in RFC 3339 with nanoseconds, `success` a fraction, `rate`
 * requests per second of sending, `throughput` successes per second including the wait for the
 * last answers.
 *
 * Mapping: one test per operation kind, named as vault-benchmark's KV v2 examples name theirs
 * (kvv2_read_test, kvv2_write_test, and kvv2_list_test when the run lists). Reads are those that
 * reached a node: vault-benchmark has no client cache, so cache hits are left out (compare with
 * `--cache off`). Latencies count failed requests too (as vegeta does); bytes are not measured
 * (0). A request no node answered has status code "0", as vegeta records a transport error.
 */
import { Histogram } from './histogram.js';
import type { LoadResult } from './load.js';
import { OpStats } from './op-stats.js';

/** vegeta's LatencyMetrics, in nanoseconds. */
export interface VbLatencies {
  readonly total: number;
  readonly mean: number;
  readonly '50th': number;
  readonly '90th': number;
  readonly '95th': number;
  readonly '99th': number;
  readonly max: number;
  readonly min: number;
}

/** vegeta's Metrics as JSON. */
export interface VbMetrics {
  readonly latencies: VbLatencies;
  readonly bytes_in: { readonly total: number; readonly mean: number };
  readonly bytes_out: { readonly total: number; readonly mean: number };
  readonly earliest: string;
  readonly latest: string;
  readonly end: string;
  readonly duration: number;
  readonly wait: number;
  readonly requests: number;
  readonly rate: number;
  readonly throughput: number;
  readonly success: number;
  readonly status_codes: Readonly<Record<string, number>>;
  readonly errors: readonly string[];
}

/** vault-benchmark's JSONReport. */
export interface VaultBenchmarkReport {
  readonly target_addr: string;
  readonly metrics: Readonly<Record<string, VbMetrics>>;
}

/** Go's zero time.Time, which vegeta leaves in a test without requests. */
const ZERO_TIME = '0001-01-01T00:00:00Z';

/** Epoch milliseconds (fractional) as Go's RFC3339Nano: nanoseconds, trailing zeros dropped. */
export function rfc3339Nano(ms: number): string {
  if (!Number.isFinite(ms) || ms <= 0) return ZERO_TIME;
  const whole = Math.floor(ms);
  const ns = Math.round((ms - whole) * 1e6);
  const iso = new Date(whole).toISOString(); // ...T00:26:05.016Z
  const frac = `${iso.slice(20, 23)}${String(ns).padStart(6, '0')}`.replace(/0+$/, '');
  return `${iso.slice(0, 19)}${frac ? `.${frac}` : ''}Z`;
}

const ns = (us: number) => Math.round(us * 1000);

function merged(ok: Histogram, failed: Histogram): Histogram {
  const h = new Histogram();
  h.merge(ok);
  h.merge(failed);
  return h;
}

/** One test's vegeta Metrics from its latency histogram (successes) and its request counters. */
export function vbMetrics(ok: Histogram, stats: OpStats): VbMetrics {
  const h = merged(ok, stats.failed);
  const requests = h.count;
  const empty = requests === 0;
  const durationNs = empty ? 0 : Math.round((stats.latest - stats.earliest) * 1e6);
  const waitNs = empty ? 0 : Math.round((stats.end - stats.latest) * 1e6);
  const secs = durationNs / 1e9;
  return {
    latencies: {
      total: ns(h.mean * h.count),
      mean: ns(h.mean),
      '50th': ns(h.percentile(50)),
      '90th': ns(h.percentile(90)),
      '95th': ns(h.percentile(95)),
      '99th': ns(h.percentile(99)),
      max: ns(h.max),
      min: empty ? 0 : ns(h.min),
    },
    bytes_in: { total: 0, mean: 0 },
    bytes_out: { total: 0, mean: 0 },
    earliest: empty ? ZERO_TIME : rfc3339Nano(stats.earliest),
    latest: empty ? ZERO_TIME : rfc3339Nano(stats.latest),
    end: empty ? ZERO_TIME : rfc3339Nano(stats.end),
    duration: durationNs,
    wait: waitNs,
    requests,
    rate: secs > 0 ? requests / secs : requests,
    throughput: secs > 0 ? stats.successes / ((durationNs + waitNs) / 1e9) : stats.successes,
    success: empty ? 0 : stats.successes / requests,
    status_codes: { ...stats.statusCodes },
    errors: [...stats.errors],
  };
}

function total(parts: readonly { ok: Histogram; stats: OpStats }[]): { ok: Histogram; stats: OpStats } {
  const ok = new Histogram();
  const stats = new OpStats();
  for (const p of parts) {
    ok.merge(p.ok);
    stats.failed.merge(p.stats.failed);
    stats.successes += p.stats.successes;
    for (const [code, n] of Object.entries(p.stats.statusCodes))
      stats.statusCodes[code] = (stats.statusCodes[code] ?? 0) + n;
    for (const e of p.stats.errors) if (!stats.errors.includes(e)) stats.errors.push(e);
    stats.earliest = Math.min(stats.earliest, p.stats.earliest);
    stats.latest = Math.max(stats.latest, p.stats.latest);
    stats.end = Math.max(stats.end, p.stats.end);
  }
  return { ok, stats };
}

/** The run as vault-benchmark's report; `targetAddr` is the address the client starts with. */
export function vaultBenchmarkReport(
  res: LoadResult,
  targetAddr: string,
  withList: boolean,
): VaultBenchmarkReport {
  const ops = res.ops ?? { read: new OpStats(), write: new OpStats(), list: new OpStats() };
  const tests: Record<string, { ok: Histogram; stats: OpStats }> = {
    kvv2_read_test: { ok: res.readVault, stats: ops.read },
    kvv2_write_test: { ok: res.write, stats: ops.write },
    ...(withList ? { kvv2_list_test: { ok: res.list, stats: ops.list } } : {}),
  };
  const all = { ...tests, total: total(Object.values(tests)) };
  // Go's encoder writes map keys sorted.
  const metrics = Object.fromEntries(
    Object.keys(all)
      .sort()
      .map((name) => [
        name,
        vbMetrics(all[name as keyof typeof all]!.ok, all[name as keyof typeof all]!.stats),
      ]),
  );
  return { target_addr: targetAddr, metrics };
}
