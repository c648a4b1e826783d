#!/usr/bin/env node
// Full restart -> healthy, per seal: every node container stopped, then all started again, timed
// from the first start until `health` reports the cluster healthy (3 unsealed voters, a leader),
// with no key typed for the auto-unseal seals. Median (min, max) of N restarts of one cluster per
// seal, through the built CLI; each cluster is removed afterwards (ports 18830-18839).
//
// A seal is one entry of SEALS: its flags for `up`, the OpenBao image, and an optional `unseal`
// step that runs after the start (shamir: `vaultctl unseal`, retried until every node answered).
//
// Usage: node bench/seal-restart.mjs [--runs 5] [--seals static,awskms,transit,shamir]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { arg, median, root, vaultctlIn, version } from './lib.mjs';

const _cli = join(root, 'bin/vaultctl');
const runs = Number(arg('--runs', '5'));
const previous = /OPENBAO_PREVIOUS_VERSION=(\S+)/.exec(
  (await import('node:fs')).readFileSync(join(root, 'config/versions.env'), 'utf8'),
)[1];

/** name -> how to bring a cluster up with that seal, and what (if anything) unseals it after a start. */
const SEALS = {
  static: { up: ['--seal', 'static'], image: `vaultctl/openbao:${version}` },
  // moto's KMS API on the cluster network; OpenBao 2.6.x still has the awskms seal built in.
  awskms: { up: ['--dev-kms'], image: `vaultctl/openbao:${previous}` },
  // The cluster's own unsealer stays up; only the nodes restart.
  transit: { up: ['--seal', 'transit'], image: `vaultctl/openbao:${version}` },
  // A human's part, done by `vaultctl unseal` with the stored shares as soon as the nodes answer.
  shamir: { up: ['--seal', 'shamir'], image: `vaultctl/openbao:${version}`, unseal: ['unseal'] },
};
const chosen = arg('--seals', Object.keys(SEALS).join(',')).split(',');

function vaultctl(cwd, name, cmd, { check = true } = {}) {
  const cli = vaultctlIn(cwd, { cluster: name });
  const r = check ? cli.must(...cmd) : cli.run(...cmd);
  return { status: r.status, stdout: r.out, stderr: r.err };
}
function docker(args) {
  const r = spawnSync('docker', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`docker ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}
const fmt = (ms) => `${(ms / 1000).toFixed(2)} s`;

const rows = [];
for (const seal of chosen) {
  const def = SEALS[seal];
  if (!def) throw new Error(`unknown seal ${seal}; known: ${Object.keys(SEALS).join(', ')}`);
  const name = `vctl-bench-seal-${seal}`;
  const cwd = mkdtempSync(join(tmpdir(), `${name}-`));
  const nodes = ['vault-1', 'vault-2', 'vault-3'].map((n) => `${name}-${n}`);
  const times = [];
  try {
    // A cluster of an earlier, interrupted run would hold data this run's fresh state dir cannot open.
    vaultctl(cwd, name, ['down', '--volumes', '--yes'], { check: false });
    vaultctl(cwd, name, ['up', ...def.up, '--image', def.image, '--api-port', '18830']);
    vaultctl(cwd, name, ['init']);
    vaultctl(cwd, name, ['health', '--wait', '60s']);
    for (let i = 0; i < runs; i++) {
      docker(['stop', '-t', '10', ...nodes]);
      const t0 = performance.now();
      docker(['start', ...nodes]);
      if (def.unseal) {
        // Until every node answers, `unseal` reports the others unreachable (exit 2): try again.
        const until = performance.now() + 60_000;
        while (vaultctl(cwd, name, def.unseal, { check: false }).status !== 0) {
          if (performance.now() > until) throw new Error(`${seal}: vaultctl unseal did not succeed in 60 s`);
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      vaultctl(cwd, name, ['health', '--wait', '120s']);
      times.push(performance.now() - t0);
      process.stderr.write(`${seal} run ${i + 1}: ${fmt(times.at(-1))}\n`);
    }
  } finally {
    vaultctl(cwd, name, ['down', '--volumes', '--yes'], { check: false });
    rmSync(cwd, { recursive: true, force: true });
  }
  rows.push({
    seal,
    image: def.image,
    median: median(times),
    min: Math.min(...times),
    max: Math.max(...times),
  });
}

console.log(`Full restart -> healthy (${runs} restarts per seal, 3 nodes, median (min-max))`);
console.log('seal     image                       median    min-max');
for (const r of rows) {
  console.log(
    `${r.seal.padEnd(8)} ${r.image.padEnd(27)} ${fmt(r.median).padEnd(9)} ${fmt(r.min)}-${fmt(r.max)}`,
  );
}
