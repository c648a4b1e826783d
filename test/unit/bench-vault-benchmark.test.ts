import { describe, expect, it } from 'vitest';
import { Histogram } from '../../src/bench/histogram.js';
import type { LoadResult } from '../../src/bench/load.js';
import { OpStats, statusOf } from '../../src/bench/op-stats.js';
import { rfc3339Nano, vaultBenchmarkReport } from '../../src/bench/vault-benchmark.js';
import {
  VaultForbiddenError,
  VaultRequestRejectedError,
  VaultUnavailableError,
} from '../../src/client/errors.js';

/**
 * The keys of vault-benchmark's JSON report (benchmarktests/reports.go JSONReport, each test a
 * vegeta lib/metrics.go Metrics), as `vault-benchmark review` reads them back.
 */
const VEGETA_KEYS = [
  'bytes_in',
  'bytes_out',
  'duration',
  'earliest',
  'end',
  'errors',
  'latencies',
  'latest',
  'rate',
  'requests',
  'status_codes',
  'success',
  'throughput',
  'wait',
];
const LATENCY_KEYS = ['50th', '90th', '95th', '99th', 'max', 'mean', 'min', 'total'];

const T0 = Date.UTC(2026, 11, 1, 12, 0, 0);

function hist(...ms: number[]): Histogram {
  const h = new Histogram();
  for (const v of ms) h.record(v * 1000);
  return h;
}

/** A run: 4 reads that reached a node over 2 s, 2 writes (one failed with 503), no lists. */
function result(): LoadResult {
  const readVault = hist(2, 2, 4, 8);
  const write = hist(10);
  const read = new OpStats();
  for (const [i, ms] of [2, 2, 4, 8].entries()) read.ok(T0 + i * 500, T0 + i * 500 + ms);
  const w = new OpStats();
  w.ok(T0, T0 + 10);
  w.fail(T0 + 2000, T0 + 2030, new VaultUnavailableError('HTTP 503: Vault is sealed'));
  return {
    read: hist(2, 2, 4, 8, 0.02),
    readCached: hist(0.02),
    readShared: new Histogram(),
    readVault,
    write,
    list: new Histogram(),
    errors: 1,
    errorSamples: ['HTTP 503: Vault is sealed'],
    elapsedMs: 2000,
    mode: 'closed',
    dropped: 0,
    ops: { read, write: w, list: new OpStats() },
  };
}

describe('--format vault-benchmark: the shape of vault-benchmark report JSON', () => {
  const report = vaultBenchmarkReport(result(), 'https://127.0.0.1:8200', false);

  it('has target_addr and one vegeta Metrics per test plus "total", with exactly its keys', () => {
    expect(Object.keys(report)).toEqual(['target_addr', 'metrics']);
    expect(report.target_addr).toBe('https://127.0.0.1:8200');
    expect(Object.keys(report.metrics)).toEqual(['kvv2_read_test', 'kvv2_write_test', 'total']);
    for (const m of Object.values(report.metrics)) {
      expect(Object.keys(m).sort()).toEqual(VEGETA_KEYS);
      expect(Object.keys(m.latencies).sort()).toEqual(LATENCY_KEYS);
      expect(Object.keys(m.bytes_in).sort()).toEqual(['mean', 'total']);
      for (const v of Object.values(m.latencies)) expect(Number.isInteger(v)).toBe(true);
    }
  });

  it('reads: latencies in ns, rate over the sending time, throughput with the wait, success as a fraction', () => {
    const r = report.metrics.kvv2_read_test!;
    expect(r.requests).toBe(4);
    expect(r.latencies.max).toBe(8_000_000);
    expect(r.latencies.min).toBe(2_000_000);
    expect(r.latencies.total).toBe(16_000_000);
    expect(r.latencies.mean).toBe(4_000_000);
    expect(r.latencies['50th'] / 1e6).toBeCloseTo(2, 1);
    expect(r.latencies['99th']).toBe(8_000_000);
    // Sent from T0 to T0 + 1.5 s; the last answer 8 ms later.
    expect(r.duration).toBe(1_500_000_000);
    expect(r.wait).toBe(8_000_000);
    expect(r.rate).toBeCloseTo(4 / 1.5, 9);
    expect(r.throughput).toBeCloseTo(4 / 1.508, 9);
    expect(r.success).toBe(1);
    expect(r.status_codes).toEqual({ '200': 4 });
    expect(r.errors).toEqual([]);
    expect(r.earliest).toBe('2026-12-01T12:00:00Z');
    expect(r.latest).toBe('2026-12-01T12:00:01.5Z');
    expect(r.end).toBe('2026-12-01T12:00:01.508Z');
    expect(r.bytes_in).toEqual({ total: 0, mean: 0 });
  });

  it('writes: a failed request counts in requests, latencies, status codes and errors, not in success', () => {
    const w = report.metrics.kvv2_write_test!;
    expect(w.requests).toBe(2);
    expect(w.success).toBe(0.5);
    expect(w.status_codes).toEqual({ '200': 1, '503': 1 });
    expect(w.errors).toEqual(['HTTP 503: Vault is sealed']);
    expect(w.latencies.max).toBe(30_000_000);
    expect(w.latencies.min).toBe(10_000_000);
  });

  it('total: every test together (cache hits are not requests to Vault)', () => {
    const t = report.metrics.total!;
    expect(t.requests).toBe(6);
    expect(t.status_codes).toEqual({ '200': 5, '503': 1 });
    expect(t.success).toBeCloseTo(5 / 6, 9);
    expect(t.earliest).toBe('2026-12-01T12:00:00Z');
    expect(t.end).toBe('2026-12-01T12:00:02.03Z');
  });

  it('with lists, a kvv2_list_test; a test without requests is vegeta zero value', () => {
    const r = vaultBenchmarkReport(result(), 'https://x', true);
    expect(Object.keys(r.metrics)).toEqual(['kvv2_list_test', 'kvv2_read_test', 'kvv2_write_test', 'total']);
    expect(r.metrics.kvv2_list_test).toMatchObject({
      requests: 0,
      rate: 0,
      throughput: 0,
      success: 0,
      duration: 0,
      earliest: '0001-01-01T00:00:00Z',
      status_codes: {},
      errors: [],
      latencies: { total: 0, max: 0, min: 0, '99th': 0 },
    });
  });

  it('survives JSON as vault-benchmark review reads it', () => {
    const back = JSON.parse(JSON.stringify(report));
    expect(back).toEqual(report);
  });
});

describe('status codes and timestamps', () => {
  it('statusOf: the rejected status, 403, the last status a retried request named, 0 for no answer', () => {
    expect(statusOf(new VaultRequestRejectedError('HTTP 404: no handler', 404))).toBe(404);
    expect(statusOf(new VaultForbiddenError('permission denied'))).toBe(403);
    expect(statusOf(new VaultUnavailableError('HTTP 429: standby'))).toBe(429);
    expect(statusOf(new VaultUnavailableError('no answer: ECONNREFUSED'))).toBe(0);
    expect(statusOf('?')).toBe(0);
  });

  it("rfc3339Nano: Go's RFC3339Nano with nanoseconds, trailing zeros dropped", () => {
    expect(rfc3339Nano(T0)).toBe('2026-12-01T12:00:00Z');
    expect(rfc3339Nano(T0 + 16.666748)).toBe('2026-12-01T12:00:00.016666748Z');
    expect(rfc3339Nano(T0 + 250)).toBe('2026-12-01T12:00:00.25Z');
    expect(rfc3339Nano(0)).toBe('0001-01-01T00:00:00Z');
  });
});
