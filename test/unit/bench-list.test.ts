/**
 * `vaultctl bench --list-ratio`: the seed's "List Secrets" in the profile. The flag is read as a
 * share from 0 to 1 (anything else refused before the cluster is touched), the list figures are in
 * the JSON and the table, lists count in throughput and the error rate, and their targets (p50 <
 * 50 ms, p99 < 100 ms) are judged only when the run lists.
 */
import { describe, expect, it } from 'vitest';
import { Histogram } from '../../src/bench/histogram.js';
import type { LoadResult } from '../../src/bench/load.js';
import { type BenchConfig, benchReport } from '../../src/bench/report.js';
import { seedPlan, tenantListPrefixes } from '../../src/bench/seed.js';
import { parseBenchOptions, renderText } from '../../src/commands/bench.js';
import { UsageError } from '../../src/errors.js';

const hist = (...ms: number[]) => {
  const h = new Histogram();
  for (const v of ms) h.record(v * 1000);
  return h;
};
const options = {
  users: '10',
  think: '0',
  readRatio: '0.9',
  listRatio: '0',
  duration: '2s',
  warmup: '0s',
  cache: 'on',
  tenants: '1',
};
const config: BenchConfig = {
  users: 10,
  thinkMinMs: 0,
  thinkMaxMs: 0,
  readRatio: 0.9,
  listRatio: 0.25,
  durationMs: 2000,
  warmupMs: 0,
  tenants: 1,
  cache: true,
  as: { think: '0', duration: '2s', warmup: '0s' },
};
const load = (list: Histogram, errors = 0): LoadResult => ({
  read: hist(0.5, 5),
  readCached: hist(0.5),
  readShared: new Histogram(),
  readVault: hist(5),
  write: hist(10),
  list,
  errors,
  errorSamples: [],
  elapsedMs: 2000,
  mode: 'closed',
  dropped: 0,
});
const stats = { cacheHits: 1, cacheMisses: 1, failovers: 0 };

describe('bench --list-ratio', () => {
  it('takes a share from 0 to 1', () => {
    expect(parseBenchOptions({ ...options, listRatio: '0.05' }).listRatio).toBe(0.05);
    expect(parseBenchOptions({ ...options, listRatio: '1' }).listRatio).toBe(1);
    expect(parseBenchOptions(options).listRatio).toBe(0);
  });

  it.each(['1.5', '-0.1', 'some', '5%'])('refuses %j with the flag, the range and a hint', (v) => {
    let err: unknown;
    try {
      parseBenchOptions({ ...options, listRatio: v });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    const u = err as UsageError;
    expect(u.doing).toBe('reading --list-ratio');
    expect(u.message).toContain('is not a number in [0, 1]');
    expect(u.hint).toBe('--list-ratio takes a number from 0 to 1');
  });

  it("lists each seeded tenant's exchanges, under the run's own prefix", () => {
    const ids = ['11111111-1111-4111-8111-111111111111', '22222222-2222-4222-8222-222222222222'];
    const plan = seedPlan(2, { run: 'r1', tenant: () => ids.shift()! });
    expect(tenantListPrefixes(plan)).toEqual([
      'vaultctl-bench/r1/tenants/11111111-1111-4111-8111-111111111111/exchanges',
      'vaultctl-bench/r1/tenants/22222222-2222-4222-8222-222222222222/exchanges',
    ]);
  });

  it('reports the lists in the JSON, counts them in throughput and judges their targets', () => {
    const r = benchReport(config, load(hist(20, 30, 40)), stats);
    expect(r.listRatio).toBe(0.25);
    expect(r.list.count).toBe(3);
    expect(r.list.p50).toBeCloseTo(30, 0);
    expect(r.throughput).toBe(3); // 2 reads, 1 write and 3 lists in 2 s
    expect(r.verdicts.map((v) => [v.target, v.status])).toEqual([
      ['cached read p99 < 2 ms', 'met'],
      ['Vault read p99 < 20 ms', 'met'],
      ['write p99 < 50 ms', 'met'],
      ['list p50 < 50 ms', 'met'],
      ['list p99 < 100 ms', 'met'],
      ['error rate < 0.1 %', 'met'],
    ]);
    expect(JSON.parse(JSON.stringify(r)).list.count).toBe(3);
  });

  it('a slow list misses its targets; an error among lists counts in the error rate', () => {
    const r = benchReport(config, load(hist(60, 150, 160), 1), stats);
    expect(r.errorRate).toBeCloseTo(1 / 7);
    expect(r.verdicts.filter((v) => !v.met).map((v) => v.target)).toEqual([
      'list p50 < 50 ms',
      'list p99 < 100 ms',
      'error rate < 0.1 %',
    ]);
  });

  it('a run with lists that measured none has no data for the list targets', () => {
    const r = benchReport(config, load(new Histogram()), stats);
    const list = r.verdicts.filter((v) => v.target.startsWith('list'));
    expect(list.map((v) => v.status)).toEqual(['no data', 'no data']);
    expect(r.targetsMet).toBe(false);
  });

  it('has a list row and says the share in the table; none without --list-ratio', () => {
    const text = renderText(benchReport(config, load(hist(20, 30, 40)), stats), 0.5);
    expect(text[0]).toMatch(/^list\s+3\s+/m);
    expect(text.join('\n')).toContain('closed loop, 10 users, 25 % lists:');
    expect(text).toContain('  met    list p99 < 100 ms (measured 40.000)');
    const none = renderText(benchReport({ ...config, listRatio: 0 }, load(new Histogram()), stats), 0.5);
    expect(none.join('\n')).not.toMatch(/^list/m);
    expect(none.join('\n')).not.toContain('list p');
  });
});
