#!/usr/bin/env node
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { arg, median, root, vaultctlIn, version } from './lib.mjs';

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

const s = (ms) => (ms === null || ms === undefined ? '-' : (ms / 1000).toFixed(2));

const rows = [];
for (const seal of chosen) {
  const name = `vctl-bench-outage-${seal}`;
  const cwd = mkdtempSync(join(tmpdir(), `vaultctl-bench-outage-${seal}-`));
  const { run: vaultctl } = vaultctlIn(cwd, { cluster: name, stderr: 'inherit' });
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
