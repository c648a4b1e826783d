#!/usr/bin/env node
// Seal restart benchmark: full restart (every node stopped, then started) -> healthy, median of
// N, for the static seal and for transit through the cluster's own unsealer (which stays up); then
// the seal-outage recovery of `failover-drill --fault seal` (the unsealer away while every node
// restarts; the time from "unsealer back" to "healthy"), median of M. Healthy is what `vaultctl
// health` says (every node unsealed, one active, 3 voters, autopilot healthy), polled every 250 ms
// in-process (no CLI start-up in the figure). Own clusters vctl-bench-seal-<seal> on ports
// 18890-18898 (one after the other), removed afterwards (also on failure). Needs `npm run build`.
//
// Usage: node bench/seal-restart-transit.mjs [--restarts 5] [--outages 3] [--seals static,transit]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkHealth } from '../dist/health/health.js';
import { connectVaultNode } from '../dist/vault/api.js';
import { arg, cliEnv, root, version } from './lib.mjs';

const restarts = Number(arg('--restarts', '5'));
const outages = Number(arg('--outages', '3'));
const seals = arg('--seals', 'static,transit').split(',');
const base = 18890;

const median = (xs) => {
  const v = xs.filter((x) => x !== null).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};
const s = (ms) => (ms === null ? '-' : (ms / 1000).toFixed(2));
const docker = (...a) => {
  const r = spawnSync('docker', a, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`docker ${a.join(' ')}: ${r.stderr}`);
};

const rows = [];
for (const seal of seals) {
  const name = `vctl-bench-seal-${seal}`;
  const cwd = mkdtempSync(join(tmpdir(), `vaultctl-bench-seal-${seal}-`));
  writeFileSync(
    join(cwd, 'vaultctl.yaml'),
    `name: ${name}\nimage: vaultctl/openbao:${version}\napiPortBase: ${base}\nseal:\n  type: ${seal}\n`,
  );
  const vaultctl = (...a) => {
    const r = spawnSync('node', [join(root, 'bin/vaultctl'), ...a], {
      cwd,
      env: cliEnv,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    return { status: r.status, out: r.stdout };
  };
  const must = (...a) => {
    const r = vaultctl(...a);
    if (r.status !== 0) throw new Error(`vaultctl ${a.join(' ')} exited ${r.status}`);
    return r;
  };
  try {
    console.error(`== ${seal}: bringing up ${name}`);
    must('down', '--volumes', '--purge', '--yes', '-q');
    must('up', '-q');
    must('init', '-q');
    must('health', '--wait', '90s', '-q');
    const state = join(cwd, '.vaultctl', name);
    const token = JSON.parse(readFileSync(join(state, 'init.json'), 'utf8')).rootToken;
    const tls = { ca: readFileSync(join(state, 'tls', 'ca.pem'), 'utf8') };
    const targets = [0, 1, 2].map((i) => ({
      name: `vault-${i + 1}`,
      address: `https://127.0.0.1:${base + 2 * i}`,
    }));
    let last;
    const healthy = async () => {
      last = await checkHealth(targets, 3, { connect: connectVaultNode, token, tls, timeoutMs: 2000 });
      return last.verdict === 'healthy';
    };
    const containers = targets.map((t) => `${name}-${t.name}`);
    const times = [];
    for (let i = 0; i < restarts; i++) {
      docker('stop', '-t', '10', ...containers);
      const t0 = performance.now();
      docker('start', ...containers);
      while (!(await healthy())) {
        if (performance.now() - t0 > 180_000)
          throw new Error(`not healthy 180 s after a full restart: ${last?.reasons.join('; ')}`);
        await new Promise((r) => setTimeout(r, 250));
      }
      times.push(performance.now() - t0);
      console.error(`${seal}: full restart ${i + 1}/${restarts} -> healthy in ${s(times[i])} s`);
      await new Promise((r) => setTimeout(r, 3000));
    }
    const row = {
      seal,
      restarts: times.length,
      restartMedian: median(times),
      restartMax: Math.max(...times),
    };
    if (seal === 'transit') {
      const rec = [];
      const cause = [];
      let lost = 0;
      let acked = 0;
      for (let i = 0; i < outages; i++) {
        must('health', '--wait', '120s', '-q');
        const r = vaultctl(
          'failover-drill',
          '--fault',
          'seal',
          '--duration',
          '5s',
          '--heal-timeout',
          '180s',
          '--format',
          'json',
          '--yes',
          '-q',
        );
        if (r.status !== 0 && r.status !== 3)
          throw new Error(`failover-drill --fault seal exited ${r.status}`);
        const rep = JSON.parse(r.out);
        rec.push(rep.recoveryMs);
        cause.push(rep.allRestarted.causeSeenMs);
        lost += rep.lostWrites;
        acked += rep.writes.acked;
        console.error(
          `transit: outage ${i + 1}/${outages}: away ${s(rep.outageMs)} s, back -> healthy ${s(rep.recoveryMs)} s, cause in the logs after ${s(rep.allRestarted.causeSeenMs)} s, ${rep.writes.acked} acked, ${rep.lostWrites} lost`,
        );
      }
      Object.assign(row, {
        outages: rec.length,
        recoveryMedian: median(rec),
        recoveryMax: Math.max(...rec),
        causeMedian: median(cause),
        acked,
        lost,
      });
    }
    rows.push(row);
  } finally {
    vaultctl('down', '--volumes', '--purge', '--yes', '-q');
    rmSync(cwd, { recursive: true, force: true });
  }
}

console.log(`full restart (every node stopped, then started) -> healthy, ${restarts} times per seal:`);
console.log('| seal | restarts | median s | worst s |');
console.log('|---|---|---|---|');
for (const r of rows)
  console.log(`| ${r.seal} | ${r.restarts} | ${s(r.restartMedian)} | ${s(r.restartMax)} |`);
const t = rows.find((r) => r.seal === 'transit' && r.outages);
if (t) {
  console.log(
    `\nseal outage (failover-drill --fault seal: the unsealer away, a follower then every node restarted), ${t.outages} times:`,
  );
  console.log(
    '| unsealer back -> healthy, median s | worst s | restarted nodes name the seal backend after, median s | writes acked | lost |',
  );
  console.log('|---|---|---|---|---|');
  console.log(
    `| ${s(t.recoveryMedian)} | ${s(t.recoveryMax)} | ${s(t.causeMedian)} | ${t.acked} | ${t.lost} |`,
  );
}
