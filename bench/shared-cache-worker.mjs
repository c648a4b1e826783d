#!/usr/bin/env node
import { join } from 'node:path';
// One application instance of bench/shared-cache.mjs: a VaultClient (from dist/) driven by JSON
// lines on stdin ({id, op, ...}), answering JSON lines on stdout. The token arrives on stdin,
// never in argv. Times are performance.timeOrigin + performance.now() (comparable across processes).
import { createInterface } from 'node:readline';
import { root } from './lib.mjs';

const { VaultClient } = await import(join(root, 'dist/client/index.js'));
const { runLoad } = await import(join(root, 'dist/bench/load.js'));
const now = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let client;

const ops = {
  init: ({ options }) => {
    client = new VaultClient({ ...options, env: {} });
    return true;
  },
  // Every path, `concurrency` at a time: the cold start of an instance.
  readAll: async ({ paths, concurrency = paths.length }) => {
    for (let i = 0; i < paths.length; i += concurrency)
      await Promise.all(paths.slice(i, i + concurrency).map((p) => client.readSecret(p)));
    return true;
  },
  write: async ({ path, data }) => ({ ...(await client.writeSecret(path, data)), ackAt: now() }),
  watch: async ({ path, expect, intervalMs, timeoutMs }) => {
    const start = now();
    while (now() - start < timeoutMs) {
      if ((await client.readSecret(path))?.api_key === expect) return now();
      await sleep(intervalMs);
    }
    return null;
  },
  load: async (opts) => {
    const r = await runLoad(client, opts);
    const h = (x) => x.toJSON();
    return {
      read: h(r.read),
      readCached: h(r.readCached),
      readShared: h(r.readShared),
      readVault: h(r.readVault),
      write: h(r.write),
      list: h(r.list),
      errors: r.errors,
      errorSamples: r.errorSamples,
      elapsedMs: r.elapsedMs,
    };
  },
  // Sequential reads of one path through a second client with no in-memory tier: the shared
  // tier's own hit latency over loopback.
  hitBench: async ({ options, path, n }) => {
    const c = new VaultClient({
      ...options,
      cache: { enabled: false, shared: options.cache.shared },
      env: {},
    });
    await c.readSecret(path);
    const lat = [];
    let shared = 0;
    for (let i = 0; i < n; i++) {
      const s = performance.now();
      const r = await c.readSecretWithMeta(path);
      lat.push(performance.now() - s);
      if (r?.tier === 'shared') shared += 1;
    }
    await c.close();
    lat.sort((a, b) => a - b);
    const pct = (p) => lat[Math.min(lat.length - 1, Math.ceil((p / 100) * lat.length) - 1)];
    return { n, shared, p50: pct(50), p99: pct(99), max: lat[lat.length - 1] };
  },
  stats: () => client.stats(),
};

const rl = createInterface({ input: process.stdin });
rl.on('line', async (line) => {
  const { id, op, ...args } = JSON.parse(line);
  try {
    process.stdout.write(`${JSON.stringify({ id, ok: true, result: await ops[op](args) })}\n`);
  } catch (err) {
    process.stdout.write(`${JSON.stringify({ id, ok: false, error: `${err.name}: ${err.message}` })}\n`);
  }
});
rl.on('close', async () => {
  await client?.close();
  process.exit(0);
});
