import { describe, expect, it } from 'vitest';
import { Histogram } from '../../src/bench/histogram.js';
import { credentialPath, VaultClient, VaultInvalidInputError } from '../../src/client/index.js';
import { parseThink } from '../../src/commands/bench.js';
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
