#!/usr/bin/env node
// `vaultctl agent` costs: one backup run (save + GPG encrypt + S3 multipart upload to moto + read back
// and verify + sidecar + retention; `agent --once`) against `snapshot save` to a local file, in the
// same run, at 200 and 10,000 secrets (1 KiB each), median of N each, interleaved. Then the idle
// agent's resident memory and CPU between runs (goal < 80 MB, < 1 % of a core). Prints the load.
// Own cluster vctl-ag-bench on ports 19640-19646, moto on 19650; everything removed afterwards.
//
// Usage: node bench/agent.mjs [--runs 3] [--sizes 200,10000] [--idle 60]
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { arg, cliEnv, root, version } from './lib.mjs';

const runs = Number(arg('--runs', '3'));
const sizes = arg('--sizes', '200,10000').split(',').map(Number);
const idleSeconds = Number(arg('--idle', '60'));
const name = 'vctl-ag-bench';
const motoPort = 19650;
const cwd = mkdtempSync(join(tmpdir(), 'vaultctl-bench-agent-'));
const aws = { AWS_ACCESS_KEY_ID: 'bench', AWS_SECRET_ACCESS_KEY: 'bench', AWS_REGION: 'us-east-1' };
const env = { ...cliEnv, ...aws };
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

const gpgHome = join(cwd, 'gnupg');
mkdirSync(gpgHome, { mode: 0o700 });
execFileSync(
  'gpg',
  [
    '--homedir',
    gpgHome,
    '--batch',
    '--passphrase',
    '',
    '--quick-gen-key',
    'bench <b@example.org>',
    'default',
    'default',
    'never',
  ],
  { stdio: 'ignore' },
);
writeFileSync(join(cwd, 'pub.asc'), execFileSync('gpg', ['--homedir', gpgHome, '--export', '--armor']));
execFileSync('gpgconf', ['--homedir', gpgHome, '--kill', 'gpg-agent']);
writeFileSync(
  join(cwd, 'vaultctl.yaml'),
  [
    `name: ${name}`,
    `image: vaultctl/openbao:${version}`,
    'apiPortBase: 19640',
    'backup:',
    '  schedule: "0 2 * * *"',
    '  destinations:',
    `    - url: s3://vctl-ag-bench/vault`,
    '      region: us-east-1',
    `      endpoint: http://127.0.0.1:${motoPort}`,
    '      keep: 2',
    '  encryption:',
    `    gpgPublicKeys: [${join(cwd, 'pub.asc')}]`,
    '',
  ].join('\n'),
);
const vaultctl = (...a) => {
  const t0 = performance.now();
  const r = spawnSync('node', [join(root, 'bin/vaultctl'), ...a], { cwd, env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`vaultctl ${a.join(' ')}: ${r.stderr}`);
  return { ms: performance.now() - t0, out: r.stdout };
};

const motoDir = join(process.env.VAULTCTL_CACHE_DIR ?? join(homedir(), '.cache', 'vaultctl'), 'moto-5.2.1');
const moto = spawn('python3', ['-m', 'moto.server', '-H', '127.0.0.1', '-p', String(motoPort)], {
  env: { ...process.env, PYTHONPATH: motoDir },
  stdio: 'ignore',
});
let agent;
try {
  for (let i = 0; i < 100; i++) {
    if (
      await fetch(`http://127.0.0.1:${motoPort}/`).then(
        () => true,
        () => false,
      )
    )
      break;
    await new Promise((r) => setTimeout(r, 200));
  }
  await fetch(`http://127.0.0.1:${motoPort}/vctl-ag-bench`, { method: 'PUT' });
  vaultctl('up', '-q');
  vaultctl('init', '-q');
  const state = join(cwd, '.vaultctl', name);
  const token = JSON.parse(readFileSync(join(state, 'init.json'), 'utf8')).rootToken;
  const ca = readFileSync(join(state, 'tls', 'ca.pem'), 'utf8');
  const { VaultClient } = await import(join(root, 'dist/client/index.js'));
  const client = new VaultClient({
    addresses: ['https://127.0.0.1:19640'],
    token,
    ca,
    cache: { enabled: false },
    env: {},
  });
  const value = 'x'.repeat(1024);
  const dir = join(cwd, 'snaps');
  mkdirSync(dir);
  let written = 0;
  const rows = [];
  console.error(`load before: ${load()}`);
  for (const n of sizes) {
    while (written < n) {
      const batch = Array.from({ length: Math.min(64, n - written) }, (_, i) => written + i);
      // On an overloaded host the leader may step down for a moment: retry the batch (idempotent writes).
      for (let attempt = 1; ; attempt++) {
        try {
          await Promise.all(batch.map((i) => client.writeSecret(`bench/${i}`, { value })));
          break;
        } catch (err) {
          if (attempt >= 10) throw err;
          await new Promise((r) => setTimeout(r, 2000));
        }
      }
      written += batch.length;
    }
    const save = [];
    const backup = [];
    let bytes = 0;
    for (let r = 0; r < runs; r++) {
      const s = vaultctl('snapshot', 'save', '--dir', dir, '--format', 'json', '-q');
      bytes = JSON.parse(s.out).size;
      save.push(s.ms);
      backup.push(vaultctl('agent', '--once', '--metrics-port', '0').ms);
      console.error(
        `  ${n}: run ${r + 1}/${runs}: snapshot save ${(s.ms / 1000).toFixed(2)} s, agent --once ${(backup.at(-1) / 1000).toFixed(2)} s (load ${load()})`,
      );
    }
    rows.push({ n, bytes, save: median(save), backup: median(backup) });
  }
  // Idle: a schedule far away (02:00 daily; the run missed at start is done by --once above).
  agent = spawn('node', [join(root, 'bin/vaultctl'), 'agent', '--metrics-port', '0'], {
    cwd,
    env,
    stdio: 'ignore',
  });
  await new Promise((r) => setTimeout(r, 5000));
  const stat = () => readFileSync(`/proc/${agent.pid}/stat`, 'utf8').split(') ')[1].split(' ');
  const ticks = () => Number(stat()[11]) + Number(stat()[12]);
  const hz = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim());
  const t0 = ticks();
  await new Promise((r) => setTimeout(r, idleSeconds * 1000));
  const cpu = ((ticks() - t0) / hz / idleSeconds) * 100;
  const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${agent.pid}/status`, 'utf8'))[1]) / 1024;
  console.log(`\nvaultctl agent, median of ${runs} runs (${new Date().toISOString()}, load ${load()})`);
  console.log(
    `${'secrets'.padEnd(10)}${'snapshot'.padEnd(12)}${'save (local)'.padEnd(16)}${'agent --once*'.padEnd(16)}ratio`,
  );
  for (const r of rows)
    console.log(
      `${String(r.n).padEnd(10)}${`${(r.bytes / 1024).toFixed(0)} KiB`.padEnd(12)}${`${(r.save / 1000).toFixed(2)} s`.padEnd(16)}${`${(r.backup / 1000).toFixed(2)} s`.padEnd(16)}${(r.backup / r.save).toFixed(2)}x`,
    );
  console.log(
    '* save + GPG encrypt + S3 multipart upload (moto on 127.0.0.1) + read back and verify + sidecar + retention; CLI start-up included in both.',
  );
  console.log(
    `idle agent over ${idleSeconds} s: RSS ${rss.toFixed(1)} MB (goal < 80), CPU ${cpu.toFixed(2)} % of a core (goal < 1)`,
  );
} finally {
  agent?.kill('SIGTERM');
  spawnSync('node', [join(root, 'bin/vaultctl'), 'down', '--volumes', '--purge', '--yes', '-q'], {
    cwd,
    env,
  });
  moto.kill('SIGKILL');
  rmSync(cwd, { recursive: true, force: true });
}
process.exit(0);
