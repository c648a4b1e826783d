#!/usr/bin/env node
// Time from nothing to a healthy, initialised cluster: `vaultctl up` + `init` + `health --wait`,
// through the built CLI, with a warm image. Median (and min/max) of N runs per autopilot
// server_stabilization_time, with the phases `init` reports. Prints a table; changes nothing it
// does not remove again (cluster vctl-bench on ports 18400-18404, removed after every run).
//
// Usage: node bench/bootstrap.mjs [--runs 5] [--stabilization 10s,3s] [--image REF]
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { arg, cliEnv, root, version } from './lib.mjs';

const cli = join(root, 'bin/vaultctl');
const runs = Number(arg('--runs', '5'));
const stabilizations = arg('--stabilization', '10s,3s').split(',');
const image = arg('--image', `vaultctl/openbao:${version}`);
const name = 'vctl-bench';

function vaultctl(cwd, cmd) {
  const t0 = performance.now();
  const r = spawnSync('node', [cli, '--cluster', name, '--config', 'vaultctl.yaml', ...cmd], {
    cwd,
    encoding: 'utf8',
    env: cliEnv,
  });
  const ms = performance.now() - t0;
  if (r.status !== 0) {
    throw new Error(`vaultctl ${cmd.join(' ')} exited ${r.status}:\n${r.stderr}`);
  }
  return { ms, stdout: r.stdout };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const fmt = (ms) => `${(ms / 1000).toFixed(2)} s`;

function oneRun(stabilization) {
  const cwd = mkdtempSync(join(tmpdir(), 'vaultctl-bench-'));
  writeFileSync(
    join(cwd, 'vaultctl.yaml'),
    [
      `name: ${name}`,
      `image: ${image}`,
      'apiPortBase: 18400',
      'raft:',
      '  autopilot:',
      `    serverStabilizationTime: ${stabilization}`,
      '',
    ].join('\n'),
  );
  try {
    const up = vaultctl(cwd, ['up', '-q']);
    const init = vaultctl(cwd, ['init', '-q', '--format', 'json']);
    const health = vaultctl(cwd, ['health', '--wait', '60s']);
    const t = JSON.parse(init.stdout).timings;
    return {
      up: up.ms,
      firstInitialised: up.ms + t.firstInitialised,
      followersJoined: up.ms + t.followersJoined,
      votersReady: up.ms + t.votersReady,
      configured: up.ms + t.configured,
      initTotal: init.ms,
      health: health.ms,
      total: up.ms + init.ms + health.ms,
    };
  } finally {
    spawnSync(
      'node',
      [cli, '--cluster', name, '--config', 'vaultctl.yaml', 'down', '--volumes', '--purge', '--yes', '-q'],
      {
        cwd,
        env: { ...process.env, CI: 'true' },
      },
    );
    rmSync(cwd, { recursive: true, force: true });
  }
}

try {
  execFileSync('docker', ['image', 'inspect', image], { stdio: 'ignore' });
} catch {
  console.error(`image ${image} is missing: run \`bash scripts/setup.sh\` first`);
  process.exit(1);
}

console.log(
  `vaultctl bootstrap benchmark: ${runs} runs per setting, image ${image}, ${new Date().toISOString()}`,
);
console.log('Times are from the start of `up`; "total" is up + init + health --wait as a user runs them.\n');
const phases = ['up', 'firstInitialised', 'followersJoined', 'votersReady', 'configured', 'health', 'total'];
const labels = {
  up: 'containers started, APIs answer',
  firstInitialised: 'first node initialised',
  followersJoined: 'followers joined + unsealed',
  votersReady: 'all voters healthy (autopilot)',
  configured: 'audit/KV/policies/AppRole done',
  health: '`health --wait` itself',
  total: 'total (up + init + health)',
};
const results = {};
for (const st of stabilizations) {
  results[st] = [];
  for (let i = 0; i < runs; i++) {
    const r = oneRun(st);
    results[st].push(r);
    console.error(`  stabilization ${st} run ${i + 1}/${runs}: total ${fmt(r.total)}`);
  }
}
console.log(
  `\n${'phase (median, [min-max])'.padEnd(36)}${stabilizations.map((s) => `stabilization ${s}`.padEnd(30)).join('')}`,
);
for (const p of phases) {
  const cells = stabilizations.map((s) => {
    const xs = results[s].map((r) => r[p]);
    return `${fmt(median(xs))} [${fmt(Math.min(...xs))}-${fmt(Math.max(...xs))}]`.padEnd(30);
  });
  console.log(`${labels[p].padEnd(36)}${cells.join('')}`);
}
if (stabilizations.length > 1) {
  const base = median(results[stabilizations[0]].map((r) => r.total));
  for (const s of stabilizations.slice(1)) {
    const m = median(results[s].map((r) => r.total));
    console.log(`\nmedian total with ${s} / with ${stabilizations[0]}: ${(m / base).toFixed(2)}x`);
  }
}
