/** runLoad's operation mix (reads, writes, the seed's List Secrets) and Histogram's JSON form. */
import { describe, expect, it } from 'vitest';
import { Histogram } from '../../src/bench/histogram.js';
import { runLoad } from '../../src/bench/load.js';
import type { VaultClient } from '../../src/client/index.js';

const T = '00000000-0000-4000-8000-000000000001';
const paths = [`tenants/${T}/exchanges/binance/trading`, `tenants/${T}/exchanges/kraken/readonly`];

function fakeClient() {
  const calls = { read: 0, write: 0, list: [] as string[] };
  const client = {
    readSecretWithMeta: async () => {
      calls.read += 1;
      return { data: {}, version: 1, stale: false, fromCache: calls.read % 2 === 0, tier: 'shared' };
    },
    writeSecret: async () => {
      calls.write += 1;
      return { version: 1 };
    },
    listSecrets: async (prefix: string) => {
      calls.list.push(prefix);
      return ['binance/', 'kraken/'];
    },
  } as unknown as VaultClient;
  return { client, calls };
}

const base = { users: 2, thinkMinMs: 0, thinkMaxMs: 1, readRatio: 0.9, durationMs: 150, warmupMs: 0, paths };

describe('runLoad', () => {
  it("mixes in the seed's List Secrets on each tenant's exchanges when listRatio is set", async () => {
    const { client, calls } = fakeClient();
    const r = await runLoad(client, { ...base, listRatio: 0.3 });
    expect(r.list.count).toBeGreaterThan(0);
    expect(new Set(calls.list)).toEqual(new Set([`tenants/${T}/exchanges`]));
    expect(r.read.count).toBeGreaterThan(r.list.count / 2);
    expect(r.readShared.count).toBeGreaterThan(0);
    expect(r.errors).toBe(0);
  });

  it('lists nothing by default', async () => {
    const { client, calls } = fakeClient();
    const r = await runLoad(client, base);
    expect(r.list.count).toBe(0);
    expect(calls.list).toEqual([]);
    expect(r.read.count + r.write.count).toBeGreaterThan(0);
  });
});

describe('Histogram JSON form', () => {
  it('round-trips counts, min, max and mean', () => {
    const h = new Histogram();
    for (const v of [5, 120, 3000, 45_000]) h.record(v);
    const back = Histogram.fromJSON(JSON.parse(JSON.stringify(h)));
    expect(back.summary()).toEqual(h.summary());
    expect(back.min).toBe(5);
    expect(Histogram.fromJSON(JSON.parse(JSON.stringify(new Histogram()))).summary().count).toBe(0);
  });
});
