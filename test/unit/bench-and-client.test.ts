import { describe, expect, it } from 'vitest';
import { Histogram } from '../../src/bench/histogram.js';
import type { LoadResult } from '../../src/bench/load.js';
import type { BenchConfig } from '../../src/bench/report.js';
import { benchReport, hitRate, judgeBench, TARGETS } from '../../src/bench/report.js';
import { credentialPath, VaultClient, VaultInvalidInputError } from '../../src/client/index.js';
import { parseBenchOptions, parseThink, renderText } from '../../src/commands/bench.js';
import { UsageError } from '../../src/errors.js';

describe('Histogram', () => {
  it('gives percentiles within 2 % of the exact values', () => {
    const h = new Histogram();
    const values = Array.from({ length: 10_000 }, (_, i) => (i + 1) * 7); // 7 us .. 70 ms
    for (const v of values) h.record(v);
    for (const p of [50, 90, 99, 99.9]) {
      const exact = values[Math.ceil((p / 100) * values.length) - 1]!;
      const got = h.percentile(p);
      expect(Math.abs(got - exact) / exact, `p${p}`).toBeLessThan(0.02);
      expect(got).toBeGreaterThanOrEqual(exact);
    }
    expect(h.percentile(100)).toBe(70_000);
    expect(h.count).toBe(10_000);
    expect(h.summary().max).toBe(70);
  });

  it('is empty-safe and merges', () => {
    const a = new Histogram();
    expect(a.percentile(99)).toBe(0);
    const b = new Histogram();
    a.record(1000);
    b.record(3000);
    a.merge(b);
    expect(a.count).toBe(2);
    expect(a.max).toBe(3000);
    expect(a.summary().mean).toBe(2);
  });
});

describe('parseThink', () => {
  it('reads ranges and single values', () => {
    expect(parseThink('0.1-1s')).toEqual([100, 1000]);
    expect(parseThink('0')).toEqual([0, 0]);
    expect(parseThink('200ms-2s')).toEqual([200, 2000]);
    expect(() => parseThink('2s-1s')).toThrow(UsageError);
    expect(() => parseThink('soon')).toThrow(UsageError);
  });
});

describe('credentialPath', () => {
  it("builds the seed's path and refuses anything else", () => {
    const id = '00000000-0000-4000-8000-000000000001';
    expect(credentialPath(id, 'binance', 'trading')).toBe(`tenants/${id}/exchanges/binance/trading`);
    for (const bad of ['x', `${id}/x`, 'ABCDEF00-0000-4000-8000-000000000001', `${id}*`, '']) {
      expect(() => credentialPath(bad, 'binance', 'trading')).toThrow(VaultInvalidInputError);
    }
    expect(() => credentialPath(id, 'bin/ance', 'trading')).toThrow(VaultInvalidInputError);
    expect(() => credentialPath(id, 'binance', 'admin' as 'trading')).toThrow(VaultInvalidInputError);
  });

  it('a client needs an address and credentials', () => {
    expect(() => new VaultClient({ env: {} })).toThrow(/no node address/);
    expect(() => new VaultClient({ addresses: ['https://127.0.0.1:1'], env: {} })).toThrow(/no credentials/);
    expect(
      new VaultClient({ env: { BAO_ADDR: 'https://a:1, https://b:2', BAO_TOKEN: 't' } }).currentAddress,
    ).toBe('https://a:1');
  });
});

/** A histogram holding these latencies (milliseconds). */
function hist(...ms: number[]): Histogram {
  const h = new Histogram();
  for (const v of ms) h.record(v * 1000);
  return h;
}

const none = new Histogram().summary();

describe('judgeBench', () => {
  const fast = {
    readCached: hist(0.5).summary(),
    readVault: hist(5).summary(),
    write: hist(10).summary(),
    operations: 3,
  };

  it('meets every target when every p99 and the error rate are below them', () => {
    const v = judgeBench({ ...fast, errorRate: 0 }, true);
    expect(v.map((x) => x.target)).toEqual([
      'cached read p99 < 2 ms',
      'Vault read p99 < 20 ms',
      'write p99 < 50 ms',
      'error rate < 0.1 %',
    ]);
    expect(v.every((x) => x.met)).toBe(true);
  });

  it('misses a target at or above its bound, and reports the measured value', () => {
    const v = judgeBench(
      { ...fast, write: hist(TARGETS.writeP99).summary(), errorRate: TARGETS.errorRate },
      true,
    );
    const byTarget = Object.fromEntries(v.map((x) => [x.target, x]));
    expect(byTarget['write p99 < 50 ms']).toMatchObject({ met: false, value: TARGETS.writeP99 });
    expect(byTarget['error rate < 0.1 %']).toMatchObject({ met: false, value: 0.1 });
    expect(byTarget['Vault read p99 < 20 ms']!.met).toBe(true);
  });

  it('with the cache off the cached-read target is not judged', () => {
    const v = judgeBench({ ...fast, readCached: none, errorRate: 0 }, false);
    expect(v.map((x) => x.target)).not.toContain('cached read p99 < 2 ms');
    expect(v.every((x) => x.met)).toBe(true);
  });

  it('a target with no sample has no data: never met, no measured value', () => {
    const v = judgeBench(
      { readCached: none, readVault: none, write: none, errorRate: 0, operations: 0 },
      true,
    );
    expect(v.map((x) => [x.target, x.status, x.met, x.value])).toEqual([
      ['cached read p99 < 2 ms', 'no data', false, null],
      ['Vault read p99 < 20 ms', 'no data', false, null],
      ['write p99 < 50 ms', 'no data', false, null],
      ['error rate < 0.1 %', 'no data', false, null],
    ]);
    // Reads only: the write target has no data, the others are judged.
    const reads = judgeBench({ ...fast, write: none, errorRate: 0 }, true);
    expect(reads.map((x) => x.status)).toEqual(['met', 'met', 'no data', 'met']);
  });
});

describe('benchReport', () => {
  const config: BenchConfig = {
    users: 10,
    thinkMinMs: 0,
    thinkMaxMs: 0,
    readRatio: 0.9,
    listRatio: 0,
    durationMs: 2000,
    warmupMs: 0,
    tenants: 1,
    cache: true,
    as: { think: '0', duration: '2s', warmup: '0s' },
  };
  const load = (errors: number): LoadResult => ({
    read: hist(0.5, 0.5, 5),
    readCached: hist(0.5, 0.5),
    readVault: hist(5),
    readShared: new Histogram(),
    write: hist(10),
    list: new Histogram(),
    errors,
    errorSamples: errors ? ['HTTP 500'] : [],
    elapsedMs: 2000,
    mode: 'closed',
    dropped: 0,
  });

  it('reports throughput, error rate, the rounded hit rate and the verdicts, in the JSON order', () => {
    const r = benchReport(config, load(0), { cacheHits: 2, cacheMisses: 1, failovers: 1 });
    expect(Object.keys(r)).toEqual([
      'mode',
      'users',
      'think',
      'rate',
      'readRatio',
      'listRatio',
      'cache',
      'durationSeconds',
      'throughput',
      'read',
      'readCached',
      'readVault',
      'write',
      'list',
      'errors',
      'errorRate',
      'errorSamples',
      'dropped',
      'cacheHitRate',
      'failovers',
      'verdicts',
      'targetsMet',
    ]);
    expect(r).toMatchObject({
      mode: 'closed',
      think: '0',
      rate: null,
      durationSeconds: 2,
      throughput: 2, // 4 operations in 2 s
      errorRate: 0,
      cacheHitRate: 0.667,
      failovers: 1,
      targetsMet: true,
    });
    expect(r.read.count).toBe(3);
  });

  it('one error in five operations misses the error-rate target', () => {
    const r = benchReport(config, load(1), { cacheHits: 0, cacheMisses: 0, failovers: 0 });
    expect(r.errorRate).toBe(0.2);
    expect(r.cacheHitRate).toBe(0);
    expect(r.targetsMet).toBe(false);
    expect(r.verdicts.filter((v) => !v.met).map((v) => v.target)).toEqual(['error rate < 0.1 %']);
  });

  it('a run that measured nothing (Ctrl-C at once, every operation in the warm-up) meets no target', () => {
    const empty: LoadResult = {
      read: new Histogram(),
      readCached: new Histogram(),
      readVault: new Histogram(),
      readShared: new Histogram(),
      write: new Histogram(),
      list: new Histogram(),
      errors: 0,
      errorSamples: [],
      elapsedMs: 0,
      mode: 'closed',
      dropped: 0,
    };
    const r = benchReport(config, empty, { cacheHits: 0, cacheMisses: 0, failovers: 0 });
    expect(r.verdicts.map((v) => v.status)).toEqual(['no data', 'no data', 'no data', 'no data']);
    expect(r.targetsMet).toBe(false);
    const text = renderText(r, 0);
    expect(text.filter((l) => /^ {2}\S/.test(l))).toEqual([
      '  no data cached read p99 < 2 ms (nothing measured)',
      '  no data Vault read p99 < 20 ms (nothing measured)',
      '  no data write p99 < 50 ms (nothing measured)',
      '  no data error rate < 0.1 % (nothing measured)',
    ]);
    expect(text.join('\n')).not.toMatch(/\bmet\b/);
  });

  it('the text report says met or MISSED with the measured value for a judged target', () => {
    const text = renderText(
      benchReport(config, load(1), { cacheHits: 2, cacheMisses: 1, failovers: 0 }),
      2 / 3,
    );
    expect(text).toContain('  met    write p99 < 50 ms (measured 10.000)');
    expect(text).toContain('  MISSED error rate < 0.1 % (measured 20.000)');
  });

  it('hitRate is 0 without lookups', () => {
    expect(hitRate({ cacheHits: 0, cacheMisses: 0, failovers: 0 })).toBe(0);
    expect(hitRate({ cacheHits: 1, cacheMisses: 3, failovers: 0 })).toBe(0.25);
  });
});

describe('parseBenchOptions', () => {
  const defaults = {
    users: '100',
    think: '0.1-1s',
    readRatio: '0.9',
    listRatio: '0',
    duration: '5m',
    warmup: '10s',
    cache: 'on',
    tenants: '20',
  };

  it("reads the seed's defaults and keeps the user's spelling for the report", () => {
    expect(parseBenchOptions(defaults)).toEqual({
      users: 100,
      thinkMinMs: 100,
      thinkMaxMs: 1000,
      readRatio: 0.9,
      listRatio: 0,
      durationMs: 300_000,
      warmupMs: 10_000,
      rate: undefined,
      tenants: 20,
      cache: true,
      timeline: false,
      as: { think: '0.1-1s', duration: '5m', warmup: '10s' },
    });
  });

  it('refuses a bad --cache, --users or --read-ratio before touching anything', () => {
    expect(() => parseBenchOptions({ ...defaults, cache: 'maybe' })).toThrow(UsageError);
    expect(() => parseBenchOptions({ ...defaults, users: '0' })).toThrow(UsageError);
    expect(() => parseBenchOptions({ ...defaults, readRatio: '2' })).toThrow(UsageError);
  });
});
