#!/usr/bin/env node
// VaultClient's shared Redis tier with N application instances (separate Node processes) on one
// cluster, shared tier off and then on, each mode with fresh processes:
//   cold     every instance reads every seeded path, 10 at a time, all instances at once: reads
//            that reach the cluster
//   profile  the seed's profile (users split across instances, think 0.1-1 s, 90 % reads, plus
//            List Secrets), merged p50/p99 per operation and tier, cluster reads per second
//   hit      one more client with no in-memory tier reads one path 2000 times in a row: the shared
//            tier's own hit latency over loopback
//   stale    instance 0 writes, the others read every 2 ms: time from the write's ack to the new
//            value in every other instance (median and max over runs)
// Brings up its own cluster (vctl-bench-cache, ports 18580-18585) and redis-server (a free
// loopback port, no persistence), and removes both afterwards.
//
// Usage: node bench/shared-cache.mjs [--instances 4] [--users 100] [--duration 30s] [--warmup 5s]
//          [--tenants 10] [--list-ratio 0.05] [--stale-runs 10] [--cold-concurrency 10]
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { arg, median, root, vaultctlIn, version } from './lib.mjs';
import { freePort, startRedis } from './redis.mjs';

const instances = Number(arg('--instances', '4'));
const users = Number(arg('--users', '100'));
const seconds = (v) => Number(v.replace(/s$/, '')) * 1000;
const durationMs = seconds(arg('--duration', '30s'));
const warmupMs = seconds(arg('--warmup', '5s'));
const tenants = Number(arg('--tenants', '10'));
const listRatio = Number(arg('--list-ratio', '0.05'));
const staleRuns = Number(arg('--stale-runs', '10'));
const coldConcurrency = Number(arg('--cold-concurrency', '10'));
const name = 'vctl-bench-cache';
const apiPortBase = 18580;
const cwd = mkdtempSync(join(tmpdir(), 'vaultctl-bench-cache-'));
writeFileSync(
  join(cwd, 'vaultctl.yaml'),
  `name: ${name}\nimage: vaultctl/openbao:${version}\napiPortBase: ${apiPortBase}\n`,
);
const cli = vaultctlIn(cwd);
const vaultctl = (...a) => cli.must(...a).out;
const { VaultClient, credentialPath } = await import(join(root, 'dist/client/index.js'));
const { Histogram } = await import(join(root, 'dist/bench/histogram.js'));
const { createClient } = await import('@redis/client');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function worker(options) {
  const child = spawn('node', [join(root, 'bench/shared-cache-worker.mjs')], {
    stdio: ['pipe', 'pipe', 'inherit'],
    env: { PATH: process.env.PATH },
  });
  const waiting = new Map();
  let seq = 0;
  createInterface({ input: child.stdout }).on('line', (line) => {
    const m = JSON.parse(line);
    const w = waiting.get(m.id);
    waiting.delete(m.id);
    if (m.ok) w?.res(m.result);
    else w?.rej(new Error(m.error));
  });
  const call = (op, args = {}) =>
    new Promise((res, rej) => {
      const id = ++seq;
      waiting.set(id, { res, rej });
      child.stdin.write(`${JSON.stringify({ id, op, ...args })}\n`);
    });
  const stop = () =>
    new Promise((res) => {
      if (child.exitCode !== null) return res();
      child.once('exit', res);
      child.stdin.end();
      setTimeout(() => child.kill('SIGKILL'), 5000).unref();
    });
  return { call, stop, ready: call('init', { options }) };
}

let redis;
const workers = [];
try {
  console.error(`bringing up ${name} and redis-server`);
  vaultctl('up', '-q');
  vaultctl('init', '-q');
  const state = join(cwd, '.vaultctl', name);
  const token = JSON.parse(readFileSync(join(state, 'init.json'), 'utf8')).rootToken;
  const ca = readFileSync(join(state, 'tls', 'ca.pem'), 'utf8');
  const addresses = [0, 2, 4].map((d) => `https://127.0.0.1:${apiPortBase + d}`);
  const redisPort = await freePort();
  redis = await startRedis(redisPort);
  const url = `redis://127.0.0.1:${redisPort}`;
  const key = randomBytes(32).toString('base64');

  const paths = [];
  for (let t = 0; t < tenants; t++) {
    const id = `00000000-0000-4000-8000-${String(t + 1).padStart(12, '0')}`;
    for (const ex of ['binance', 'kraken', 'coinbase'])
      for (const ty of ['readonly', 'trading']) paths.push(credentialPath(id, ex, ty));
  }
  const seeder = new VaultClient({ addresses, token, ca, env: {} });
  for (const p of paths) await seeder.writeSecret(p, { api_key: 'seed', secret: 'seed-secret' });

  const results = {};
  for (const mode of ['off', 'on']) {
    const r = createClient({ url });
    await r.connect();
    await r.flushAll();
    await r.close();
    const options = { addresses, token, ca, ...(mode === 'on' ? { cache: { shared: { url, key } } } : {}) };
    const group = Array.from({ length: instances }, () => worker(options));
    workers.push(...group);
    await Promise.all(group.map((w) => w.ready));
    const reads = async () =>
      (await Promise.all(group.map((w) => w.call('stats')))).reduce((n, s) => n + s.vaultReads, 0);

    console.error(
      `shared tier ${mode}: cold start of ${instances} instances on ${paths.length} paths, ${coldConcurrency} at a time`,
    );
    await Promise.all(group.map((w) => w.call('readAll', { paths, concurrency: coldConcurrency })));
    const cold = await reads();
    if (mode === 'on') {
      const st = (await Promise.all(group.map((w) => w.call('stats')))).map((x) => x.shared);
      const t = (k) => st.reduce((n, x) => n + x[k], 0);
      console.error(
        `  cold: ${cold} cluster reads; leads ${t('singleFlightLeads')}, waits ${t('singleFlightWaits')} (answered ${t('singleFlightWaitHits')}), errors ${t('errors')}, timeouts ${t('timeouts')}`,
      );
    }

    console.error(
      `shared tier ${mode}: profile, ${users} users over ${instances} instances, ${durationMs / 1000} s`,
    );
    const before = await reads();
    const per = Math.max(1, Math.round(users / instances));
    const loads = await Promise.all(
      group.map((w) =>
        w.call('load', {
          users: per,
          thinkMinMs: 100,
          thinkMaxMs: 1000,
          readRatio: 0.9,
          listRatio,
          durationMs,
          warmupMs,
          paths,
        }),
      ),
    );
    const profileReads = (await reads()) - before;
    const merged = {};
    for (const k of ['read', 'readCached', 'readShared', 'readVault', 'write', 'list']) {
      merged[k] = new Histogram();
      for (const l of loads) merged[k].merge(Histogram.fromJSON(l[k]));
    }
    const errors = loads.reduce((n, l) => n + l.errors, 0);

    console.error(`shared tier ${mode}: invalidation staleness, ${staleRuns} runs`);
    const lags = [];
    let unseen = 0;
    const path = paths[0];
    for (let i = 0; i < staleRuns; i++) {
      for (const w of group) await w.call('readAll', { paths: [path] });
      const value = `stale-${mode}-${i}`;
      const watching = group
        .slice(1)
        .map((w) =>
          w.call('watch', { path, expect: value, intervalMs: 2, timeoutMs: mode === 'on' ? 5000 : 2000 }),
        );
      await sleep(50);
      const { ackAt } = await group[0].call('write', {
        path,
        data: { api_key: value, secret: 'seed-secret' },
      });
      const seen = await Promise.all(watching);
      if (seen.some((s) => s === null)) unseen += 1;
      else lags.push(Math.max(0, ...seen.map((s) => s - ackAt)));
      // The writer's second invalidation (1 s later) must not land in the next run.
      await sleep(mode === 'on' ? 1100 : 0);
    }
    const shared = (await Promise.all(group.map((w) => w.call('stats')))).map((s) => s.shared);
    const hit =
      mode === 'on' ? await group[0].call('hitBench', { options, path: paths[1], n: 2000 }) : undefined;
    results[mode] = {
      cold,
      profileReads,
      merged,
      errors,
      lags,
      unseen,
      shared,
      hit,
      seconds: durationMs / 1000,
    };
    await Promise.all(group.map((w) => w.stop()));
  }

  const f = (v) => v.toFixed(2);
  const pp = (h) => (h.count ? `${f(h.summary().p50)} / ${f(h.summary().p99)} (${h.count})` : '-');
  const row = (label, off, on) => console.log(`${label.padEnd(44)}${String(off).padEnd(30)}${on}`);
  console.log(
    `\nShared cache tier: ${instances} instances, ${users} users, ${durationMs / 1000} s profile (think 0.1-1 s, 90 % reads, ${listRatio * 100} % lists), ${paths.length} paths (${new Date().toISOString()})`,
  );
  row('', 'shared tier off', 'shared tier on');
  row(`cold reads reaching the cluster`, results.off.cold, results.on.cold);
  row(
    'cluster reads during the profile (/s)',
    `${results.off.profileReads} (${f(results.off.profileReads / results.off.seconds)})`,
    `${results.on.profileReads} (${f(results.on.profileReads / results.on.seconds)})`,
  );
  row('read, all: p50 / p99 ms (count)', pp(results.off.merged.read), pp(results.on.merged.read));
  row('read, memory or shared hit', pp(results.off.merged.readCached), pp(results.on.merged.readCached));
  row('read, shared-tier hit', pp(results.off.merged.readShared), pp(results.on.merged.readShared));
  row('read, from a node', pp(results.off.merged.readVault), pp(results.on.merged.readVault));
  row('list secrets (target p50 < 50, p99 < 100)', pp(results.off.merged.list), pp(results.on.merged.list));
  row('write', pp(results.off.merged.write), pp(results.on.merged.write));
  row('errors', results.off.errors, results.on.errors);
  const stale = (r) =>
    r.lags.length
      ? `median ${f(median(r.lags))}, max ${f(Math.max(...r.lags))}${r.unseen ? `, ${r.unseen} unseen` : ''}`
      : `not seen within 2 s in ${r.unseen}/${staleRuns} runs`;
  row(`invalidation staleness ms (${staleRuns} runs)`, stale(results.off), stale(results.on));
  const hit = results.on.hit;
  console.log(
    `\nshared-tier hit, one instance, no in-memory tier, ${hit.n} sequential reads over loopback (${hit.shared} from the tier): ` +
      `p50 ${hit.p50.toFixed(3)} ms, p99 ${hit.p99.toFixed(3)} ms, max ${hit.max.toFixed(3)} ms`,
  );
  const sum = (k) => results.on.shared.reduce((n, s) => n + s[k], 0);
  console.log(
    `\nshared tier counters (all instances): hits ${sum('hits')}, misses ${sum('misses')}, fills ${sum('fills')}, ` +
      `refused fills ${sum('fillsRefused')}, single-flight leads ${sum('singleFlightLeads')}, waits ${sum('singleFlightWaits')} ` +
      `(answered ${sum('singleFlightWaitHits')}), invalidations sent ${sum('invalidationsSent')} / received ${sum('invalidationsReceived')}, ` +
      `errors ${sum('errors')}, timeouts ${sum('timeouts')}`,
  );
} finally {
  await Promise.all(workers.map((w) => w.stop()));
  if (redis?.pid && redis.exitCode === null) process.kill(redis.pid, 'SIGKILL');
  cli.down();
  rmSync(cwd, { recursive: true, force: true });
}
process.exit(0);
