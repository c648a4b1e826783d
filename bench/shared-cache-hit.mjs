#!/usr/bin/env node
// Where the time of one shared-tier hit goes. No cluster: a redis-server on loopback holds one
// sealed entry, and one VaultClient (no in-memory tier) reads it; every stage is timed on the same
// connection, so the raw GET/MGET of the same bytes is the baseline of the same run.
//
//   async stages   N sequential awaits each, the stage order rotated every run: raw GET, GET with
//                  the client's own per-command timeout off, raw MGET entry+gen (what a hit sends),
//                  that MGET through the tier's bounded call(), SharedCache.read, and
//                  VaultClient.readSecretWithMeta (the whole hit)
//   per stage      p50 / p99 / max, the event loop delay (perf_hooks.monitorEventLoopDelay) p99
//                  and max, GC pauses during the stage, and how many of its slowest 1 % of calls
//                  overlapped a GC pause
//   CPU stages     mean microseconds of each step of a hit done in JS: envelope parse, decipher
//                  creation (raw key vs KeyObject), AES-256-GCM open, JSON.parse, and the per-call
//                  allocations (AbortController + command-options proxy, a timer, AbortSignal.timeout)
//   redis-benchmark  GET with one connection, when it is installed: the server and loopback alone
//
// Figures are medians over --runs runs. Needs `npm run build` (reads dist/).
//
// --dist DIR times another build of the client (a copy of dist/ from an older commit, placed where
// it finds node_modules), for before/after figures from alternating runs.
//
// Usage: node bench/shared-cache-hit.mjs [--runs 7] [--n 2000] [--cpu 20000] [--warmup 500] [--dist DIR]
import { spawnSync } from 'node:child_process';
import { createDecipheriv, createSecretKey, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { arg, median, root } from './lib.mjs';
import { freePort, startRedis } from './redis.mjs';

const runs = Number(arg('--runs', '7'));
const n = Number(arg('--n', '2000'));
const cpuN = Number(arg('--cpu', '20000'));
const warmup = Number(arg('--warmup', '500'));
const dist = arg('--dist', join(root, 'dist'));

const { VaultClient, credentialPath } = await import(join(dist, 'client/index.js'));
const { sealEntry, openEntry, cacheKeyBytes } = await import(join(dist, 'client/envelope.js'));
const { sharedKeyNames } = await import(join(dist, 'client/shared-keys.js'));
const { createClient } = await import('@redis/client');

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];

const gcs = [];
const gcObserver = new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcs.push({ start: e.startTime, end: e.startTime + e.duration });
});
gcObserver.observe({ entryTypes: ['gc'] });

const port = await freePort();
const server = await startRedis(port);
const url = `redis://127.0.0.1:${port}`;
const redis = createClient({ url });
redis.on('error', () => {});
await redis.connect();
try {
  const keyText = randomBytes(32).toString('base64');
  const key = cacheKeyBytes(keyText);
  const path = credentialPath('00000000-0000-4000-8000-000000000001', 'binance', 'trading');
  const names = sharedKeyNames('vault:secrets:', 'secret', path);
  // A credential of the seed's shape: about 200 bytes of JSON.
  const data = {
    api_key: randomBytes(32).toString('hex'),
    api_secret: randomBytes(48).toString('base64'),
    passphrase: randomBytes(12).toString('hex'),
  };
  const sealed = sealEntry(key, names.entry, { data, version: 3 });
  await redis.set(names.entry, sealed);
  await redis.set(names.gen, '7');

  // The address is never contacted: every read below is a shared-tier hit.
  const client = new VaultClient({
    addresses: ['https://127.0.0.1:9'],
    token: 'unused',
    env: {},
    cache: { enabled: false, shared: { client: redis, key: keyText, lagGuardMs: 0 } },
  });
  // The tier's internals, reached from plain JS to time them one by one.
  const tier = client.shared;
  const load = () => Promise.reject(new Error('a hit must not reach the cluster'));
  const first = await client.readSecretWithMeta(path);
  if (first?.tier !== 'shared') throw new Error('the first read was not a shared-tier hit');
  const noTimeout = redis.withCommandOptions({ timeout: 0 });

  const stages = {
    'GET (raw client)': () => redis.get(names.entry),
    'GET, client per-command timeout off': () => noTimeout.get(names.entry),
    'MGET entry+gen (raw client)': () => redis.mGet([names.entry, names.gen]),
    'MGET through the tier call()': () => tier.call((r) => r.mGet([names.entry, names.gen])),
    'call() MGET + openEntry': async () => {
      const [text] = await tier.call((r) => r.mGet([names.entry, names.gen]));
      if (!openEntry(key, names.entry, text)) throw new Error('did not open');
    },
    'SharedCache.read': () => tier.read(path, load),
    'VaultClient hit (whole)': async () => {
      const r = await client.readSecretWithMeta(path);
      if (r?.tier !== 'shared') throw new Error(`not a shared hit: ${r?.tier}`);
    },
  };
  const names_ = Object.keys(stages);

  for (const name of names_) for (let i = 0; i < warmup; i++) await stages[name]();

  const results = Object.fromEntries(names_.map((s) => [s, []]));
  for (let run = 0; run < runs; run++) {
    const order = names_.map((_, i) => names_[(i + run) % names_.length]);
    for (const name of order) {
      const fn = stages[name];
      const lat = new Float64Array(n);
      const at = new Float64Array(n);
      const loop = monitorEventLoopDelay({ resolution: 1 });
      const gcFrom = gcs.length;
      loop.enable();
      const t0 = performance.now();
      for (let i = 0; i < n; i++) {
        const s = performance.now();
        await fn();
        at[i] = s;
        lat[i] = performance.now() - s;
      }
      const t1 = performance.now();
      loop.disable();
      // GC entries arrive asynchronously.
      await new Promise((r) => setTimeout(r, 20));
      const during = gcs.slice(gcFrom).filter((g) => g.end >= t0 && g.start <= t1);
      const sorted = Float64Array.from(lat).sort();
      const p99 = pct(sorted, 99);
      let slow = 0;
      let slowInGc = 0;
      const clean = [];
      for (let i = 0; i < n; i++) {
        const inGc = during.some((g) => g.end >= at[i] && g.start <= at[i] + lat[i]);
        if (!inGc) clean.push(lat[i]);
        if (lat[i] >= p99) {
          slow += 1;
          if (inGc) slowInGc += 1;
        }
      }
      clean.sort((a, b) => a - b);
      results[name].push({
        p50: pct(sorted, 50),
        p99,
        max: sorted[n - 1],
        p99NoGc: pct(clean, 99),
        loopP99: loop.percentile(99) / 1e6,
        loopMax: loop.max / 1e6,
        gcCount: during.length,
        gcMs: during.reduce((t, g) => t + (g.end - g.start), 0),
        slowInGc: slowInGc / slow,
      });
    }
  }

  // CPU stages: mean microseconds per call over cpuN calls (median of `runs` loops).
  const keyObject = createSecretKey(key);
  const m = /^v1\.(\d{1,15})\.([A-Za-z0-9+/=]+)$/.exec(sealed);
  const raw = Buffer.from(m[2], 'base64');
  const nonce = raw.subarray(0, 12);
  const body = raw.subarray(12, raw.length - 16);
  const tag = raw.subarray(raw.length - 16);
  const aad = Buffer.from(`vaultctl-cache:v1:${names.entry}:3`, 'utf8');
  const open = (k) => {
    const d = createDecipheriv('aes-256-gcm', k, nonce, { authTagLength: 16 });
    d.setAAD(aad);
    d.setAuthTag(tag);
    return Buffer.concat([d.update(body), d.final()]);
  };
  const plainText = open(key).toString('utf8');
  const sink = [];
  const cpu = {
    'envelope parse (regex + base64 decode)': () =>
      Buffer.from(/^v1\.(\d{1,15})\.([A-Za-z0-9+/=]+)$/.exec(sealed)[2], 'base64'),
    'createDecipheriv, raw 32-byte key': () =>
      createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: 16 }),
    'createDecipheriv, cached KeyObject': () =>
      createDecipheriv('aes-256-gcm', keyObject, nonce, { authTagLength: 16 }),
    'AES-256-GCM open (create, AAD, tag, update, final), raw key': () => open(key),
    'AES-256-GCM open, cached KeyObject': () => open(keyObject),
    'JSON.parse of the plaintext': () => JSON.parse(plainText),
    'openEntry (the whole envelope open)': () => openEntry(key, names.entry, sealed),
    'AbortController + withAbortSignal proxy': () => redis.withAbortSignal(new AbortController().signal),
    'setTimeout + clearTimeout': () => clearTimeout(setTimeout(() => {}, 250)),
    'AbortSignal.timeout(5000) (node-redis, every command)': () => AbortSignal.timeout(5000),
  };
  const cpuResults = Object.fromEntries(Object.keys(cpu).map((k) => [k, []]));
  for (let run = 0; run < runs; run++)
    for (const [name, fn] of Object.entries(cpu)) {
      for (let i = 0; i < 1000; i++) sink[i & 7] = fn();
      const s = performance.now();
      for (let i = 0; i < cpuN; i++) sink[i & 7] = fn();
      cpuResults[name].push(((performance.now() - s) * 1000) / cpuN);
    }

  let bench;
  if (spawnSync('redis-benchmark', ['--version']).status === 0) {
    const r = spawnSync(
      'redis-benchmark',
      [
        '-h',
        '127.0.0.1',
        '-p',
        String(port),
        '-c',
        '1',
        '-n',
        String(n * runs),
        '-t',
        'get',
        '-d',
        String(sealed.length),
        '--csv',
      ],
      { encoding: 'utf8' },
    );
    const line = r.stdout.split('\n').find((l) => l.startsWith('"GET"'));
    if (line) {
      const v = line.split(',').map((x) => Number(x.replaceAll('"', '')));
      bench = { p50: v[4], p99: v[6], max: v[7] };
    }
  }

  await client.close();

  const f3 = (v) => v.toFixed(3);
  const base = results['GET (raw client)'].map((r) => r);
  const baseP50 = median(base.map((r) => r.p50));
  const baseP99 = median(base.map((r) => r.p99));
  console.log(
    `\nShared-tier hit, stage by stage (${dist}): ${n} sequential calls per stage, median of ${runs} runs, entry ${sealed.length} bytes, Node ${process.version} (${new Date().toISOString()})`,
  );
  const head = [
    'stage',
    'p50',
    'p99',
    'max',
    'p50/GET',
    'p99/GET',
    'best p99',
    'p99 w/o GC',
    'loop p99',
    'loop max',
    'GCs',
    'GC ms',
    'slow 1% in GC',
  ];
  const w = [40, 7, 7, 7, 8, 8, 9, 11, 9, 9, 5, 7, 13];
  const line = (cells) => console.log(cells.map((c, i) => String(c).padEnd(w[i])).join(''));
  line(head);
  for (const name of names_) {
    const rs = results[name];
    const med = (k) => median(rs.map((r) => r[k]));
    line([
      name,
      f3(med('p50')),
      f3(med('p99')),
      f3(med('max')),
      (med('p50') / baseP50).toFixed(2),
      (med('p99') / baseP99).toFixed(2),
      f3(Math.min(...rs.map((r) => r.p99))),
      f3(med('p99NoGc')),
      f3(med('loopP99')),
      f3(med('loopMax')),
      med('gcCount'),
      med('gcMs').toFixed(1),
      `${Math.round(med('slowInGc') * 100)} %`,
    ]);
  }
  console.log(
    '(ms; "best p99": the quietest run\'s; "loop": the event loop delay during the stage; "slow 1% in GC": share of calls at or above the p99 that overlapped a GC pause)',
  );
  for (const name of names_)
    console.log(`  p99 of each run, ${name}: ${results[name].map((r) => f3(r.p99)).join(' ')}`);
  if (bench)
    console.log(
      `redis-benchmark GET, 1 connection: p50 ${f3(bench.p50)}, p99 ${f3(bench.p99)}, max ${f3(bench.max)} ms`,
    );
  console.log(`\nCPU per call (mean µs over ${cpuN} calls, median of ${runs} loops)`);
  for (const [name, xs] of Object.entries(cpuResults))
    console.log(`  ${name.padEnd(58)}${median(xs).toFixed(2)}`);
} finally {
  gcObserver.disconnect();
  await redis.close().catch(() => redis.destroy());
  if (server.pid && server.exitCode === null) process.kill(server.pid, 'SIGKILL');
}
process.exit(0);
