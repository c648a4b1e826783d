/**
 * VaultClient's shared Redis tier against a real TLS cluster and a real redis-server, with the
 * application instances as separate Node processes: invalidation across instances within the
 * stated bound, single-flight cold reads, Redis stopped and restarted mid-run, entries placed by
 * hand never served, and nothing readable in Redis.
 */
import { randomBytes } from 'node:crypto';
import { createClient } from '@redis/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sealEntry } from '../../src/client/envelope.js';
import { credentialPath, type SharedCacheStats, VaultClient } from '../../src/client/index.js';
import { sharedKeyNames } from '../../src/client/shared-keys.js';
import { CacheApp, TestRedis } from '../helpers/cache-app.js';
import { eventually, removeClusterResources, TestCluster } from '../helpers/cluster.js';

const cluster = new TestCluster({ name: 'vctl-it-cache', apiPortBase: 18560 });
const KEY = randomBytes(32);
/** The staleness bound while Redis is reachable: the second invalidation's delay plus margin. */
const LAG_GUARD_MS = 1000;
const BOUND_MS = LAG_GUARD_MS + 250;
const T = ['aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb'];
const written: string[] = [];
const apps: CacheApp[] = [];
let redis: TestRedis;

function options(extra: { cache?: Record<string, unknown>; shared?: Record<string, unknown> } = {}) {
  return {
    addresses: cluster.addresses,
    token: cluster.rootToken,
    ca: cluster.tls!.ca,
    timeoutMs: 2000,
    cache: {
      ...extra.cache,
      shared: { url: redis.url, key: KEY.toString('base64'), lagGuardMs: LAG_GUARD_MS, ...extra.shared },
    },
  };
}

async function app(extra: Parameters<typeof options>[0] = {}): Promise<CacheApp> {
  const a = await CacheApp.start(options(extra));
  apps.push(a);
  return a;
}

/** A credential written straight to the cluster (no shared tier involved), remembered for the scan. */
async function seed(path: string, tag: string): Promise<{ api_key: string; secret: string }> {
  const value = {
    api_key: `AK-${tag}-${randomBytes(6).toString('hex')}`,
    secret: `SK-${randomBytes(12).toString('hex')}`,
  };
  written.push(value.api_key, value.secret);
  const c = new VaultClient({
    addresses: cluster.addresses,
    token: cluster.rootToken,
    ca: cluster.tls!.ca,
    env: {},
  });
  await c.writeSecret(path, value);
  return value;
}

interface Stats {
  vaultReads: number;
  shared: SharedCacheStats;
}

beforeAll(async () => {
  await removeClusterResources(cluster.name);
  redis = await TestRedis.start();
  await cluster.up();
  await cluster.init();
});
afterAll(async () => {
  await Promise.all(apps.map((a) => a.stop()));
  await redis?.stop();
  await cluster.destroy();
});

describe('VaultClient shared cache tier', () => {
  it('a write through instance A reaches instance B within the bound, and B never reads the old value after', async () => {
    const path = credentialPath(T[0]!, 'binance', 'trading');
    await seed(path, 'v1');
    const [a, b] = await Promise.all([app(), app()]);
    await b.call('read', { path });
    const lags: number[] = [];
    for (let i = 0; i < 5; i++) {
      const next = {
        api_key: `AK-v${i + 2}-${randomBytes(6).toString('hex')}`,
        secret: `SK-${randomBytes(12).toString('hex')}`,
      };
      written.push(next.api_key, next.secret);
      // B reads every 2 ms (mostly from its memory) while A writes.
      const watching = b.call<{ seenAt: number | null; regressions: number }>('watch', {
        path,
        expect: next.api_key,
        intervalMs: 2,
        timeoutMs: 10_000,
        holdMs: LAG_GUARD_MS + 500,
      });
      await new Promise((r) => setTimeout(r, 100));
      const { ackAt } = await a.call<{ ackAt: number }>('write', { path, data: next });
      const w = await watching;
      expect(w.seenAt, `write ${i + 2} never seen by B`).not.toBeNull();
      expect(w.regressions, 'B read the old value after the new one').toBe(0);
      lags.push(Math.max(0, w.seenAt! - ackAt));
    }
    const sorted = [...lags].sort((x, y) => x - y);
    console.log(`invalidation staleness over 5 writes (ms): ${sorted.map((l) => l.toFixed(1)).join(', ')}`);
    expect(Math.max(...lags)).toBeLessThan(BOUND_MS);
    const bs = await b.call<Stats>('stats');
    expect(bs.shared.invalidationsReceived).toBeGreaterThanOrEqual(5);
  });

  it('20 concurrent cold reads from 4 processes reach the cluster once', async () => {
    const path = credentialPath(T[1]!, 'kraken', 'readonly');
    const value = await seed(path, 'cold');
    const four = await Promise.all([app(), app(), app(), app()]);
    const before = await Promise.all(four.map((p) => p.call<Stats>('stats')));
    const tiers = await Promise.all(four.map((p) => p.call<(string | null)[]>('readMany', { path, n: 5 })));
    const after = await Promise.all(four.map((p) => p.call<Stats>('stats')));
    const vaultReads = after.reduce((n, s, i) => n + s.vaultReads - before[i]!.vaultReads, 0);
    expect(tiers.flat()).toHaveLength(20);
    expect(tiers.flat()).not.toContain(null);
    expect(vaultReads).toBe(1);
    expect(after.reduce((n, s) => n + s.shared.singleFlightLeads, 0)).toBe(1);
    const got = await four[0]!.call<{ data: { api_key: string } }>('read', { path });
    expect(got.data.api_key).toBe(value.api_key);
  });

  it('Redis stopped mid-run: no error reaches the caller; restarted: the tier is used again', async () => {
    const paths = await Promise.all(
      ['coinbase', 'bitstamp', 'okx'].map(async (ex) => {
        const path = credentialPath(T[0]!, ex, 'readonly');
        return { path, expect: (await seed(path, ex)).api_key };
      }),
    );
    // A short in-memory TTL, so the reads keep going to the shared tier (or the cluster).
    const [c, d] = await Promise.all([
      app({ cache: { ttlMs: 50 }, shared: { timeoutMs: 50 } }),
      app({ cache: { ttlMs: 50 }, shared: { timeoutMs: 50 } }),
    ]);
    const run = (ms: number) =>
      Promise.all(
        [c, d].map((p) =>
          p.call<{ tiers: Record<string, number>; errors: number; wrong: number }>('loop', {
            paths,
            durationMs: ms,
            intervalMs: 5,
          }),
        ),
      );
    const warm = await run(1500);
    expect(warm.every((r) => r.errors === 0 && r.wrong === 0 && r.tiers.shared! > 0)).toBe(true);

    const during = run(5000);
    await new Promise((r) => setTimeout(r, 1500));
    await redis.stop();
    await new Promise((r) => setTimeout(r, 1500));
    const down = await Promise.all([c, d].map((p) => p.call<Stats>('stats')));
    expect(down.every((s) => !s.shared.connected)).toBe(true);
    await redis.start();
    const res = await during;
    expect(res.map((r) => r.errors)).toEqual([0, 0]);
    expect(res.map((r) => r.wrong)).toEqual([0, 0]);

    await eventually(async () => {
      const s = await Promise.all([c, d].map((p) => p.call<Stats>('stats')));
      expect(s.every((x) => x.shared.connected)).toBe(true);
    }, 10_000);
    const s1 = await Promise.all([c, d].map((p) => p.call<Stats>('stats')));
    const again = await run(1500);
    const s2 = await Promise.all([c, d].map((p) => p.call<Stats>('stats')));
    expect(again.map((r) => r.errors)).toEqual([0, 0]);
    expect(s2.reduce((n, s, i) => n + s.shared.hits - s1[i]!.shared.hits, 0)).toBeGreaterThan(0);
    expect(s2.every((s) => s.shared.errors > 0 && s.shared.resyncs >= 1)).toBe(true);
  });

  it('an entry placed in Redis by hand under a cached key is never returned', async () => {
    const path = credentialPath(T[1]!, 'binance', 'readonly');
    const real = await seed(path, 'real');
    const other = credentialPath(T[1]!, 'binance', 'trading');
    await seed(other, 'other');
    const reader = await app({ cache: { enabled: false } });
    expect((await reader.call<{ data: { api_key: string } }>('read', { path })).data.api_key).toBe(
      real.api_key,
    );
    expect((await reader.call<{ tier: string }>('read', { path })).tier).toBe('shared');
    await reader.call('read', { path: other });

    const r = createClient({ url: redis.url });
    await r.connect();
    try {
      const names = sharedKeyNames('vault:secrets:', 'secret', path);
      const otherName = sharedKeyNames('vault:secrets:', 'secret', other).entry;
      const forged = { data: { api_key: 'AK-forged', secret: 'SK-forged' }, version: 99 };
      const candidates = [
        JSON.stringify(forged),
        `v1.99.${Buffer.from(JSON.stringify(forged)).toString('base64')}`,
        sealEntry(randomBytes(32), names.entry, forged),
        sealEntry(KEY, otherName, forged),
        (await r.get(otherName))!,
      ];
      for (const [i, text] of candidates.entries()) {
        await r.set(names.entry, text, { expiration: { type: 'PX', value: 60_000 } });
        const got = await reader.call<{ data: { api_key: string }; tier: string }>('read', { path });
        expect(got.data.api_key, `candidate ${i}`).toBe(real.api_key);
        expect(got.tier, `candidate ${i}`).toBe('vault');
      }
      const s = await reader.call<Stats>('stats');
      expect(s.shared.rejected).toBe(candidates.length);
    } finally {
      await r.close();
    }
  });

  it('takes a client the application made, and leaves it open on close', async () => {
    const path = credentialPath(T[0]!, 'kraken', 'trading');
    await seed(path, 'own');
    const writer = await app();
    const next = {
      api_key: `AK-own2-${randomBytes(6).toString('hex')}`,
      secret: `SK-${randomBytes(12).toString('hex')}`,
    };
    written.push(next.api_key, next.secret);
    await writer.call('write', { path, data: next });
    const own = createClient({ url: redis.url });
    await own.connect();
    const c = new VaultClient({
      addresses: cluster.addresses,
      token: cluster.rootToken,
      ca: cluster.tls!.ca,
      env: {},
      cache: { shared: { client: own, key: KEY } },
    });
    try {
      const got = await c.readSecretWithMeta(path);
      expect(got).toMatchObject({ tier: 'shared', data: next });
      expect(c.stats()).toMatchObject({ vaultReads: 0, shared: { hits: 1 } });
      // Its subscriber is a connection of its own, opened beside the client given.
      await eventually(async () => expect(c.stats().shared?.connected).toBe(true));
      await c.close();
      expect(own.isReady).toBe(true);
    } finally {
      await own.close();
    }
  });

  it('holds nothing readable: no key name or value in Redis contains a secret written', async () => {
    const r = createClient({ url: redis.url });
    await r.connect();
    try {
      const secrets = [...written, ...cluster.knownSecrets()];
      let keys = 0;
      const found: string[] = [];
      for await (const batch of r.scanIterator({ COUNT: 100 })) {
        for (const k of batch) {
          keys += 1;
          const v = (await r.type(k)) === 'string' ? ((await r.get(k)) ?? '') : '';
          for (const s of secrets)
            if (k.includes(s) || v.includes(s)) found.push(`${k} holds ${s.slice(0, 5)}…`);
        }
      }
      expect(keys).toBeGreaterThan(0);
      expect(found).toEqual([]);
    } finally {
      await r.close();
    }
  });
});
