#!/usr/bin/env node
// Active-node endpoint benchmark, on its own cluster (vctl-bench-endpoint, ports 18720-18727),
// removed afterwards (also on failure). Two parts:
//  1. Latency through the endpoint vs straight to the active node, in the same run: reads and
//     writes, one client each, the two paths interleaved in blocks so that machine noise hits both.
//     Prints p50/p99 per path and the added p50 (goal: under 0.3 ms).
//  2. Standby reads off (the default) vs on: stale reads right after a write through a standby
//     (write through one address, read back through another), and reads/s of a closed loop of
//     --concurrency readers spread over every node.
// Every figure is the median of --runs runs.
//
// Usage: node bench/endpoint.mjs [--runs 5] [--requests 400] [--concurrency 16] [--seconds 5]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { arg, cliEnv, median, root, vaultctlIn, version } from './lib.mjs';

const runs = Number(arg('--runs', '5'));
const requests = Number(arg('--requests', '400'));
const concurrency = Number(arg('--concurrency', '16'));
const seconds = Number(arg('--seconds', '5'));
const name = 'vctl-bench-endpoint';
const base = 18720;
const { VaultNodeApi } = await import(join(root, 'dist/vault/api.js'));

const cwd = mkdtempSync(join(tmpdir(), 'vaultctl-bench-endpoint-'));
const cli = (args, config) => {
  if (config !== undefined) writeFileSync(join(cwd, 'vaultctl.yaml'), config);
  return vaultctlIn(cwd, { cluster: name }).must(...args).out;
};
const spec = (standbyReads) =>
  `name: ${name}\napiPortBase: ${base}\nimage: vaultctl/openbao:${version}\nstandbyReads: ${standbyReads}\n`;

const pct = (xs, p) => {
  const v = [...xs].sort((a, b) => a - b);
  return v[Math.min(v.length - 1, Math.floor(v.length * p))];
};
const f = (x, d = 2) => x.toFixed(d);

function clients() {
  const state = join(cwd, '.vaultctl', name);
  const token = JSON.parse(readFileSync(join(state, 'init.json'), 'utf8')).rootToken;
  const ca = readFileSync(join(state, 'tls', 'ca.pem'), 'utf8');
  return (address) => new VaultNodeApi({ address, token, tls: { ca }, timeoutMs: 5000 });
}

async function health() {
  const h = JSON.parse(cli(['health', '--wait', '90s', '--format', 'json']));
  if (h.verdict !== 'healthy') throw new Error(`cluster not healthy: ${h.reasons.join('; ')}`);
  return h;
}

try {
  cli(['up'], spec(false));
  cli(['init']);
  let h = await health();
  const mk = clients();
  const addr = (i) => `https://127.0.0.1:${base + 2 * i}`;
  const endpoint = `https://127.0.0.1:${base + 6}`;
  const active = () => addr(h.nodes.findIndex((n) => n.active));

  // 1. Latency: endpoint vs the active node, same run, interleaved blocks of 50 requests.
  const lat = { direct: { read: [], write: [] }, endpoint: { read: [], write: [] } };
  for (let r = 0; r < runs; r++) {
    const run = { direct: { read: [], write: [] }, endpoint: { read: [], write: [] } };
    const paths = { direct: mk(active()), endpoint: mk(endpoint) };
    for (const api of Object.values(paths)) await api.kvPut('secret', 'bench/warm', { v: 0 });
    for (let block = 0; block < requests / 50; block++) {
      for (const [via, api] of Object.entries(paths)) {
        for (let i = 0; i < 50; i++) {
          const t0 = performance.now();
          await api.kvPut('secret', `bench/lat-${i}`, { v: i });
          const t1 = performance.now();
          await api.kvGet('secret', `bench/lat-${i}`);
          run[via].write.push(t1 - t0);
          run[via].read.push(performance.now() - t1);
        }
      }
    }
    for (const via of ['direct', 'endpoint'])
      for (const op of ['read', 'write'])
        lat[via][op].push({ p50: pct(run[via][op], 0.5), p99: pct(run[via][op], 0.99) });
  }
  console.log(`\nLatency, ${runs} runs of ${requests} writes and reads per path (medians over runs), ms:`);
  console.log('op      path       p50     p99');
  for (const op of ['read', 'write'])
    for (const via of ['direct', 'endpoint'])
      console.log(
        `${op.padEnd(7)} ${via.padEnd(9)} ${f(median(lat[via][op].map((x) => x.p50))).padStart(6)} ${f(median(lat[via][op].map((x) => x.p99))).padStart(7)}`,
      );
  for (const op of ['read', 'write']) {
    const added = lat.endpoint[op].map((x, i) => x.p50 - lat.direct[op][i].p50);
    console.log(`endpoint adds at p50 (${op}): ${f(median(added), 3)} ms (median of per-run differences)`);
  }

  // 2. Standby reads off vs on.
  const results = {};
  for (const standbyReads of [false, true]) {
    if (standbyReads) {
      cli(['up'], spec(true));
      h = await health();
    }
    const standbys = [0, 1, 2].filter((i) => !h.nodes[i].active).map(addr);
    const stale = [];
    const rps = [];
    for (let r = 0; r < runs; r++) {
      const tag = `${standbyReads}-${r}-${Date.now()}`;
      const [w, rd] = [mk(standbys[0]), mk(standbys[1])];
      let n = 0;
      for (let i = 0; i < 100; i++) {
        await w.kvPut('secret', `bench/stale-${tag}/${i}`, { v: i });
        if ((await rd.kvGet('secret', `bench/stale-${tag}/${i}`))?.data.v !== i) n++;
      }
      stale.push(n);
      const apis = [0, 1, 2].map((i) => mk(addr(i)));
      let done = 0;
      const end = performance.now() + seconds * 1000;
      await Promise.all(
        Array.from({ length: concurrency }, async (_, c) => {
          const api = apis[c % 3];
          while (performance.now() < end) {
            await api.kvGet('secret', `bench/lat-${c % 50}`);
            done++;
          }
        }),
      );
      rps.push(done / seconds);
    }
    results[standbyReads ? 'on' : 'off'] = { stale: median(stale), rps: median(rps) };
  }
  console.log(`\nStandby reads, ${runs} runs (medians):`);
  console.log(
    `standbyReads  stale of 100 write-then-read pairs  reads/s (closed loop, ${concurrency} readers)`,
  );
  for (const k of ['off', 'on'])
    console.log(
      `${k.padEnd(13)} ${String(results[k].stale).padStart(5)}                              ${f(results[k].rps, 0)}`,
    );
  console.log(`reads/s on/off: ${f(results.on.rps / results.off.rps, 2)}x`);
} finally {
  spawnSync(
    'node',
    [join(root, 'bin/vaultctl'), '--cluster', name, 'down', '--volumes', '--purge', '--yes'],
    {
      cwd,
      env: cliEnv,
    },
  );
  rmSync(cwd, { recursive: true, force: true });
}
