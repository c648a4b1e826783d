#!/usr/bin/env node
// What one `vaultctl` process costs before it does anything: wall time, CPU time (user + system)
// and the number of files Node loads (.js/.mjs/.cjs/.json opened, from `strace -f -e openat`), for
// `--version`, `health --help` and a real command (`health` of a cluster that is not running: it
// reads the spec, contacts every node and reports them down), median of N runs each. Runs of the
// CLIs given with --cli are interleaved, so a load change hits each alike; the first is the baseline
// of the ratios. Needs /usr/bin/time and strace; starts no container.
//
// Usage: node bench/cli-startup.mjs [--runs 10] [--cli PATH,PATH]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { arg, cliEnv, loadAverage, median, root } from './lib.mjs';

const clis = arg('--cli', join(root, 'bin/vaultctl')).split(',');
const runs = Number(arg('--runs', '10'));
const cwd = mkdtempSync(join(tmpdir(), 'vaultctl-startup-'));
// Ports 19950-19956 of nothing: the real command finds every node down.
writeFileSync(join(cwd, 'vaultctl.yaml'), 'name: vctl-st-startup\napiPortBase: 19950\n');

const cases = [
  ['--version', ['--version']],
  ['health --help', ['health', '--help']],
  ['health (nothing running)', ['--cluster', 'vctl-st-startup', '--config', 'vaultctl.yaml', 'health']],
];

/** One run under /usr/bin/time: wall and CPU seconds. */
function timed(cli, args) {
  const r = spawnSync('/usr/bin/time', ['-f', 'TIME %e %U %S', 'node', cli, ...args], {
    cwd,
    env: cliEnv,
    encoding: 'utf8',
  });
  const m = /TIME (\S+) (\S+) (\S+)/.exec(r.stderr);
  if (!m) throw new Error(`no timing from ${cli} ${args.join(' ')}:\n${r.stderr}`);
  return { wall: Number(m[1]), cpu: Number(m[2]) + Number(m[3]) };
}

/** The distinct module files one run opens (by itself: strace slows it, so not timed). */
function filesLoaded(cli, args) {
  const log = join(cwd, 'strace.txt');
  spawnSync('strace', ['-f', '-e', 'trace=openat', '-o', log, 'node', cli, ...args], {
    cwd,
    env: cliEnv,
    stdio: 'ignore',
  });
  // One entry per module, whichever path (a symlinked node_modules, a realpath) opened it.
  const files = new Set();
  for (const line of readFileSync(log, 'utf8').split('\n')) {
    const m = /openat\([^"]*"([^"]+\.(?:js|mjs|cjs|json))"[^=]*= \d/.exec(line);
    if (m && !m[1].endsWith('package.json')) files.add(m[1].replace(/^.*?\/(node_modules|dist)\//, '$1/'));
  }
  const by = (re) => [...files].filter((f) => re.test(f)).length;
  return {
    total: files.size,
    zod: by(/node_modules\/zod\//),
    yaml: by(/node_modules\/yaml\//),
    age: by(/node_modules\/(age-encryption|@noble|@scure)\//),
    http: by(
      /node_modules\/(axios|node-vault|form-data|follow-redirects|proxy-from-env|mime-|combined-stream|asynckit|delayed-stream|debug|ms|tv4|mustache|postman-request)\//,
    ),
    docker: by(/node_modules\/(dockerode|docker-modem|ssh2|tar-fs|@grpc|protobufjs|@balena|split-ca|uuid)\//),
  };
}

try {
  console.log(`vaultctl start-up cost: ${runs} runs per case, ${new Date().toISOString()}`);
  console.log(`load average (1/5/15 min) before: ${loadAverage()}`);
  for (const [i, c] of clis.entries()) console.log(`cli ${i + 1}: ${c}`);
  const results = new Map();
  for (let i = 0; i < runs; i++)
    for (const [label, args] of cases)
      for (const cli of clis) {
        const k = `${label}|${cli}`;
        if (!results.has(k)) results.set(k, []);
        results.get(k).push(timed(cli, args));
      }
  console.log(
    `\n${'case'.padEnd(26)}${'cli'.padEnd(5)}${'wall s'.padEnd(9)}${'cpu s'.padEnd(9)}${'files'.padEnd(7)}zod yaml age/noble http docker  (wall, cpu ratio to cli 1)`,
  );
  for (const [label, args] of cases) {
    const base = results.get(`${label}|${clis[0]}`);
    for (const [ci, cli] of clis.entries()) {
      const xs = results.get(`${label}|${cli}`);
      const wall = median(xs.map((x) => x.wall));
      const cpu = median(xs.map((x) => x.cpu));
      const f = filesLoaded(cli, args);
      const ratio =
        ci === 0
          ? ''
          : `(${(wall / median(base.map((x) => x.wall))).toFixed(2)}x, ${(cpu / median(base.map((x) => x.cpu))).toFixed(2)}x)`;
      console.log(
        `${label.padEnd(26)}${String(ci + 1).padEnd(5)}${wall.toFixed(2).padEnd(9)}${cpu.toFixed(2).padEnd(9)}${String(f.total).padEnd(7)}${String(f.zod).padEnd(4)}${String(f.yaml).padEnd(5)}${String(f.age).padEnd(10)}${String(f.http).padEnd(5)}${String(f.docker).padEnd(7)} ${ratio}`,
      );
    }
  }
  console.log(`\nload average (1/5/15 min) after: ${loadAverage()}`);
} finally {
  rmSync(cwd, { recursive: true, force: true });
}
