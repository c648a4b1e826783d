#!/usr/bin/env node
// Time from nothing to a healthy, initialised cluster: `vaultctl up` + `init` + `health --wait`,
// through the built CLI, with a warm image. Median (and min/max) of N runs per autopilot
// server_stabilization_time, with the phases `init` reports and the moment each progress line of
// `up` and `init` appeared. Prints the machine's load before and after (the figures depend on it).
// Changes nothing it does not remove again (cluster vctl-bench on ports 18400-18406, removed
// after every run).
//
// Usage: node bench/bootstrap.mjs [--runs 5] [--stabilization 10s,3s] [--image REF] [--trace]
//        [--spec-extra 'yaml lines'] [--init-flags '--x --y']
//        [--cli PATH,PATH] [--name vctl-bench --port-base 18400]
// Before/after a change: build main in a clone (git clone . /tmp/base && cd /tmp/base && ln -s
// $PWD/node_modules && npm run build) and give both CLIs: --cli /tmp/base/bin/vaultctl,bin/vaultctl.
//   --trace       also print every progress line of the first run with its time since `up` began
//   --spec-extra  lines added to the spec after `raft.autopilot.serverStabilizationTime` (indent 4
//                 to stay under autopilot; '\n' between lines); '|' separates alternatives, each
//                 its own setting, e.g. '|    reconcileInterval: 1s\n    updateInterval: 500ms'
//   --cli         the CLIs to compare (default this checkout's bin/vaultctl); runs are interleaved
//                 (one run of each setting in turn), so a load change hits every setting alike
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { arg, cliEnv, loadAverage, median, root, version } from './lib.mjs';

// --cli a,b compares builds (another worktree's bin/vaultctl) in the same, interleaved runs.
const clis = arg('--cli', join(root, 'bin/vaultctl')).split(',');
const runs = Number(arg('--runs', '5'));
const stabilizations = arg('--stabilization', '10s,3s').split(',');
const image = arg('--image', `vaultctl/openbao:${version}`);
const trace = process.argv.includes('--trace');
// Alternatives separated by '|', each compared as its own setting; '\n' separates lines.
const specExtras = arg('--spec-extra', '').split('|');
const initFlags = arg('--init-flags', '').split(' ').filter(Boolean);
// --name/--port-base: another cluster name and ports (base..base+6), for a second bench beside it.
const name = arg('--name', 'vctl-bench');
const portBase = arg('--port-base', '18400');

/** Runs the CLI; each stderr line is kept with its time (ms since `origin`). */
function vaultctl(cli, cwd, cmd, origin) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn('node', [cli, '--cluster', name, '--config', 'vaultctl.yaml', ...cmd], {
      cwd,
      env: cliEnv,
    });
    const lines = [];
    let stdout = '';
    let stderr = '';
    let pending = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
      pending += d;
      const parts = pending.split('\n');
      pending = parts.pop();
      const at = performance.now() - origin;
      for (const p of parts) if (p.trim()) lines.push({ at, text: `${cmd[0]}: ${p}` });
    });
    child.on('error', reject);
    child.on('close', (status) => {
      const ms = performance.now() - t0;
      if (status !== 0) reject(new Error(`vaultctl ${cmd.join(' ')} exited ${status}:\n${stderr}`));
      else resolve({ ms, stdout, lines });
    });
  });
}

const fmt = (ms) => `${(ms / 1000).toFixed(2)} s`;

/** The time of the first progress line that contains `needle` (undefined when none does). */
const lineAt = (lines, needle) => lines.find((l) => l.text.includes(needle))?.at;

async function oneRun(cli, stabilization, specExtra) {
  const cwd = mkdtempSync(join(tmpdir(), 'vaultctl-bench-'));
  writeFileSync(
    join(cwd, 'vaultctl.yaml'),
    [
      `name: ${name}`,
      `image: ${image}`,
      `apiPortBase: ${portBase}`,
      'raft:',
      '  autopilot:',
      `    serverStabilizationTime: ${stabilization}`,
      ...(specExtra ? specExtra.split('\\n') : []),
      '',
    ].join('\n'),
  );
  const origin = performance.now();
  try {
    const up = await vaultctl(cli, cwd, ['up'], origin);
    const init = await vaultctl(cli, cwd, ['init', ...initFlags, '--format', 'json'], origin);
    const health = await vaultctl(cli, cwd, ['health', '--wait', '60s'], origin);
    const t = JSON.parse(init.stdout).timings;
    const lines = [...up.lines, ...init.lines, ...health.lines];
    // init's timings count from its own start, after the CLI has loaded (its first line).
    const initStart = init.lines[0]?.at ?? up.ms;
    const rel = (k) => (t[k] === undefined ? undefined : initStart + t[k]);
    return {
      lines,
      phases: {
        tls: lineAt(lines, 'TLS:'),
        containersStarted: lineAt(lines, 'waiting for every node to answer'),
        up: up.ms,
        initLoaded: initStart,
        nodesAnswering: rel('nodesAnswering'),
        firstInitialised: rel('firstInitialised'),
        leaderActive: rel('leaderActive'),
        followersJoined: rel('followersJoined'),
        votersReady: rel('votersReady'),
        configured: rel('configured'),
        healthy: rel('healthy'),
        initTotal: up.ms + init.ms,
        // The in-process figure: bootstrapCluster from its start to healthy, without any CLI start.
        inProcess: t.healthy,
        // What the three CLI processes cost before their first line (load, parse, spec).
        cliStarts: (up.lines[0]?.at ?? 0) + (initStart - up.ms),
        health: health.ms,
        total: up.ms + init.ms + health.ms,
      },
    };
  } finally {
    await new Promise((resolve) => {
      const c = spawn(
        'node',
        [cli, '--cluster', name, '--config', 'vaultctl.yaml', 'down', '--volumes', '--purge', '--yes', '-q'],
        { cwd, env: cliEnv, stdio: 'ignore' },
      );
      c.on('close', resolve);
      c.on('error', resolve);
    });
    rmSync(cwd, { recursive: true, force: true });
  }
}

try {
  execFileSync('docker', ['image', 'inspect', image], { stdio: 'ignore' });
} catch {
  console.error(`image ${image} is missing: run \`bash scripts/setup.sh\` first`);
  process.exit(1);
}

const loadBefore = loadAverage();
console.log(
  `vaultctl bootstrap benchmark: ${runs} runs per setting, image ${image}, ${new Date().toISOString()}`,
);
console.log(`load average (1/5/15 min) before: ${loadBefore}`);
console.log(
  'Times are from the start of `up` (cumulative); "total" is up + init + health --wait as a user runs them.\n',
);
const phases = [
  ['tls', 'state dir + TLS certificates made'],
  ['containersStarted', 'containers created and started'],
  ['up', '`up` returns (every API answers)'],
  ['initLoaded', '`init` loaded (first line)'],
  ['nodesAnswering', 'init: every node answers'],
  ['firstInitialised', 'init: first node initialised'],
  ['leaderActive', 'init: first node active'],
  ['followersJoined', 'init: followers joined + unsealed'],
  ['votersReady', 'init: all voters, autopilot healthy'],
  ['configured', 'init: audit/KV/policies/AppRole'],
  ['healthy', 'init: every node unsealed, 1 active'],
  ['initTotal', '`init` returns'],
  ['inProcess', 'init in-process, start to healthy'],
  ['cliStarts', 'CLI starts (up + init, to 1st line)'],
  ['health', '`health --wait` itself (duration)'],
  ['total', 'total (up + init + health)'],
];
const settings = clis.flatMap((cli, ci) =>
  stabilizations.flatMap((st) =>
    specExtras.map((extra, ei) => ({
      cli,
      st,
      extra,
      label: `${clis.length > 1 ? `cli ${ci + 1} ` : ''}${specExtras.length > 1 ? `spec ${ei + 1} ` : ''}stabilization ${st}`,
    })),
  ),
);
if (specExtras.length > 1)
  for (const [i, e] of specExtras.entries()) console.log(`spec ${i + 1}: ${e || '(as is)'}`);
if (clis.length > 1) for (const [i, c] of clis.entries()) console.log(`cli ${i + 1}: ${c}`);
const results = new Map(settings.map((s) => [s.label, []]));
for (let i = 0; i < runs; i++) {
  for (const s of settings) {
    const r = await oneRun(s.cli, s.st, s.extra);
    results.get(s.label).push(r);
    console.error(`  ${s.label} run ${i + 1}/${runs}: total ${fmt(r.phases.total)} (load ${loadAverage()})`);
    if (trace && i === 0) {
      for (const l of r.lines) console.error(`    ${fmt(l.at).padStart(8)}  ${l.text}`);
    }
  }
}
console.log(`\n${'phase (median, [min-max])'.padEnd(40)}${settings.map((s) => s.label.padEnd(30)).join('')}`);
for (const [p, label] of phases) {
  const cells = settings.map((s) => {
    const xs = results
      .get(s.label)
      .map((r) => r.phases[p])
      .filter((x) => x !== undefined);
    if (xs.length === 0) return '-'.padEnd(30);
    return `${fmt(median(xs))} [${fmt(Math.min(...xs))}-${fmt(Math.max(...xs))}]`.padEnd(30);
  });
  console.log(`${label.padEnd(40)}${cells.join('')}`);
}
if (settings.length > 1) {
  const base = median(results.get(settings[0].label).map((r) => r.phases.total));
  for (const s of settings.slice(1)) {
    const m = median(results.get(s.label).map((r) => r.phases.total));
    console.log(`\nmedian total, ${s.label} / ${settings[0].label}: ${(m / base).toFixed(2)}x`);
  }
}
console.log(`\nload average (1/5/15 min) after: ${loadAverage()}`);
