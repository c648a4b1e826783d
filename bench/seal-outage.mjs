#!/usr/bin/env node
// Seal-outage recovery: `failover-drill --fault seal` (the seal backend away while a follower, then
// every node restarts; then the backend back), N times per seal backend: the time from "backend
// back" to "healthy" (what `vaultctl health` says), when the restarted nodes named the seal backend
// as the cause, and the drill writer's acknowledged and lost writes. Backends: transit (the
// cluster's own unsealer) and awskms (moto's KMS API on the cluster network, `up --dev-kms`, OpenBao
// 2.6.x with the seal built in). Own clusters vctl-bench-outage-<seal> on ports 18890-18898, one
// after the other, removed afterwards (also on failure). Full restarts without an outage:
// bench/seal-restart.mjs. Needs `npm run build`.
//
// Usage: node bench/seal-outage.mjs [--outages 3] [--seals transit,awskms]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { arg, cliEnv, root, version } from './lib.mjs';

const outages = Number(arg('--outages', '3'));
const chosen = arg('--seals', 'transit,awskms').split(',');
const previous = /OPENBAO_PREVIOUS_VERSION=(\S+)/.exec(
  readFileSync(join(root, 'config/versions.env'), 'utf8'),
)[1];
const SEALS = {
  transit: { up: ['--seal', 'transit'], image: `vaultctl/openbao:${version}` },
  awskms: { up: ['--dev-kms'], image: `vaultctl/openbao:${previous}` },
};
for (const seal of chosen) if (!SEALS[seal]) throw new Error(`unknown seal ${seal}: ${Object.keys(SEALS)}`);

const median = (xs) => {
  const v = xs.filter((x) => x !== null && x !== undefined).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};
const s = (ms) => (ms === null || ms === undefined ? '-' : (ms / 1000).toFixed(2));

const rows = [];
for (const seal of chosen) {
  const name = `vctl-bench-outage-${seal}`;
  const cwd = mkdtempSync(join(tmpdir(), `vaultctl-bench-outage-${seal}-`));
  const vaultctl = (...a) => {
    const r = spawnSync('node', [join(root, 'bin/vaultctl'), '--cluster', name, ...a], {
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
    vaultctl('down', '--volumes', '--purge', '--yes', '-q');
    must('up', ...SEALS[seal].up, '--image', SEALS[seal].image, '--api-port', '18890', '-q');
    must('init', '-q');
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
      // 3: the drill ran and found a problem (its report says which); anything else is a failure.
      if (r.status !== 0 && r.status !== 3) throw new Error(`failover-drill --fault seal exited ${r.status}`);
      const rep = JSON.parse(r.out);
      rec.push(rep.recoveryMs);
      cause.push(rep.allRestarted.causeSeenMs);
      lost += rep.lostWrites;
      acked += rep.writes.acked;
      console.error(
        `${seal}: outage ${i + 1}/${outages}: away ${s(rep.outageMs)} s, back -> healthy ${s(rep.recoveryMs)} s, cause in the logs after ${s(rep.allRestarted.causeSeenMs)} s, ${rep.writes.acked} acked, ${rep.lostWrites} lost`,
      );
    }
    rows.push({
      seal,
      outages: rec.length,
      recoveryMedian: median(rec),
      recoveryMax: Math.max(...rec),
      causeMedian: median(cause),
      acked,
      lost,
    });
  } finally {
    vaultctl('down', '--volumes', '--purge', '--yes', '-q');
    rmSync(cwd, { recursive: true, force: true });
  }
}

console.log(
  `seal outage (failover-drill --fault seal: the backend away, a follower then every node restarted), ${outages} times per backend:`,
);
console.log(
  '| seal | backend back -> healthy, median s | worst s | restarted nodes name the seal backend after, median s | writes acked | lost |',
);
console.log('|---|---|---|---|---|---|');
for (const t of rows)
  console.log(
    `| ${t.seal} | ${s(t.recoveryMedian)} | ${s(t.recoveryMax)} | ${s(t.causeMedian)} | ${t.acked} | ${t.lost} |`,
  );
