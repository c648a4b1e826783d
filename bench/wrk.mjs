#!/usr/bin/env node
// `vaultctl bench` against wrk (Debian's C load generator) in one run: the same concurrency, the
// same request (a KV v2 read of one credential, through the cluster's endpoint, token header, TLS),
// interleaved per run so drift hits both alike. Prints per run and as medians: wrk's rate, the
// bench's rate (cache off, reads only, think 0), their ratio, and the client CPU per operation
// (the bench process's own CPU over the measured seconds / its operations; wrk's from /proc).
// Then, unless --writes 0, the bench's writes (read ratio 0) with their client CPU per write.
// --cli a,b compares builds (each a bin/vaultctl) in the same runs; --cpu-prof DIR writes a V8 CPU
// profile of each build's bench process into DIR/<n> (summarise with bench/cpuprofile.mjs).
// Brings up its own cluster (vctl-pf-wrk, ports 19500-19506) and removes it afterwards.
//
// wrk does not verify the server certificate (it has no CA option); the bench does, with the
// cluster CA. The token reaches wrk through its environment and a Lua script, never argv.
//
// Usage: node bench/wrk.mjs [--runs 5] [--users 32] [--duration 10s] [--writes 5s] [--cli a,b]
//        [--cpu-prof DIR] [--keep]
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { arg, cliEnv, root, version } from './lib.mjs';

const runs = Number(arg('--runs', '5'));
const users = Number(arg('--users', '32'));
const duration = arg('--duration', '10s');
const writes = arg('--writes', '5s');
const clis = arg('--cli', join(root, 'bin/vaultctl'))
  .split(',')
  .map((c) => resolve(c));
const profDir = arg('--cpu-prof', undefined);
const keep = process.argv.includes('--keep');
const name = 'vctl-pf-wrk';
const base = 19500;
const cwd = mkdtempSync(join(tmpdir(), 'vaultctl-bench-wrk-'));
writeFileSync(
  join(cwd, 'vaultctl.yaml'),
  `name: ${name}\nimage: vaultctl/openbao:${version}\napiPortBase: ${base}\n`,
);
const endpoint = `https://127.0.0.1:${base + 6}`;
const credPath = 'secret/data/tenants/00000000-0000-4000-8000-000000000001/exchanges/binance/readonly';

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const vaultctl = (cli, args, extra = {}) => {
  const r = spawnSync('node', [...(extra.node ?? []), cli, ...args], {
    cwd,
    env: cliEnv,
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  if (r.status !== 0) throw new Error(`vaultctl ${args.join(' ')}: exit ${r.status}: ${r.stderr}`);
  return r.stdout;
};
const cpuOf = (pid) => {
  // utime + stime in clock ticks (100 per second on Linux), fields 14 and 15 of /proc/PID/stat.
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
};

/** wrk for `duration` at `users` connections: requests per second and CPU ms per request. */
async function runWrk(token, script) {
  const child = spawn(
    'wrk',
    ['-t', '2', '-c', String(users), '-d', duration, '--latency', '-s', script, `${endpoint}/v1/${credPath}`],
    { env: { ...process.env, VCTL_WRK_TOKEN: token }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let cpu = 0;
  child.stdout.on('data', (d) => {
    out += d;
  });
  const poll = setInterval(() => {
    try {
      cpu = cpuOf(child.pid);
    } catch {
      // exited between two polls: the last figure stands (at most 200 ms short)
    }
  }, 200);
  const code = await new Promise((r) => child.on('exit', r));
  clearInterval(poll);
  if (code !== 0) throw new Error(`wrk exited ${code}: ${out}`);
  const rate = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)[1]);
  const total = Number(/(\d+) requests in/.exec(out)[1]);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  if (non2xx > 0) throw new Error(`wrk: ${non2xx} answers were not 2xx: ${out}`);
  return { rate, cpuPerOp: cpu / total };
}

/** `vaultctl bench` with the same concurrency through the endpoint: rate and CPU ms per op. */
function runBench(cli, readRatio, dur, prof) {
  const args = [
    '--format',
    'json',
    'bench',
    '--endpoint',
    '--users',
    String(users),
    '--think',
    '0',
    '--cache',
    'off',
    '--read-ratio',
    String(readRatio),
    '--tenants',
    '1',
    '--duration',
    dur,
    '--warmup',
    '2s',
  ];
  const node = prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : [];
  const report = JSON.parse(vaultctl(cli, args, { node }));
  // Whole measured seconds only: the last one may have no CPU sample.
  const secs = report.timeline.filter((s) => s.loop?.cpu !== undefined);
  const cpu = secs.reduce((a, s) => a + s.loop.cpu, 0);
  const ops = secs.reduce((a, s) => a + s.ops, 0);
  // Errors (a request over the client's 2 s timeout on an overloaded host) are counted, not fatal.
  return { rate: report.throughput, cpuPerOp: cpu / ops, errors: report.errors };
}

const loads = [];
const load = () => loads.push(readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '));
try {
  const have = spawnSync('wrk', ['--version'], { encoding: 'utf8' });
  if (have.error) throw new Error("wrk is not installed: run scripts/setup.sh (it installs Debian's wrk)");
  vaultctl(clis[0], ['up', '-q']);
  vaultctl(clis[0], ['init', '-q']);
  const state = join(cwd, '.vaultctl', name);
  const token = JSON.parse(readFileSync(join(state, 'init.json'), 'utf8')).rootToken;
  const ca = readFileSync(join(state, 'tls', 'ca.pem'), 'utf8');
  await new Promise((res, rej) => {
    const r = request(
      `${endpoint}/v1/${credPath}`,
      { method: 'POST', ca, headers: { 'X-Vault-Token': token, 'Content-Type': 'application/json' } },
      (resp) => {
        resp.resume();
        resp.on('end', () => (resp.statusCode === 200 ? res() : rej(new Error(`seed: ${resp.statusCode}`))));
      },
    );
    r.on('error', rej);
    r.end(JSON.stringify({ data: { api_key: 'bench-key', secret: 'bench-secret-value-0123456789' } }));
  });
  const dir = mkdtempSync(join(tmpdir(), 'vaultctl-wrk-'));
  const script = join(dir, 'token.lua');
  writeFileSync(script, 'wrk.headers["X-Vault-Token"] = os.getenv("VCTL_WRK_TOKEN")\n', { mode: 0o600 });

  const res = { wrk: [], ...Object.fromEntries(clis.map((c) => [c, { read: [], ratio: [], write: [] }])) };
  for (let r = 0; r < runs; r++) {
    load();
    const w = await runWrk(token, script);
    res.wrk.push(w);
    let line = `run ${r + 1}/${runs}: wrk ${w.rate.toFixed(0)}/s (${(w.cpuPerOp * 1000).toFixed(0)} us CPU/req)`;
    for (const [i, cli] of clis.entries()) {
      const prof = profDir && r === 0 ? join(resolve(profDir), String(i)) : undefined;
      if (prof) mkdirSync(prof, { recursive: true });
      const b = runBench(cli, 1, duration, prof);
      res[cli].read.push(b);
      res[cli].ratio.push(b.rate / w.rate);
      line += `; [${i}] bench ${b.rate.toFixed(0)}/s = ${(b.rate / w.rate).toFixed(2)}x, ${(b.cpuPerOp * 1000).toFixed(0)} us CPU/read${b.errors ? ` (${b.errors} errors)` : ''}`;
      if (writes !== '0') {
        const wr = runBench(cli, 0, writes);
        res[cli].write.push(wr);
        line += `, writes ${wr.rate.toFixed(0)}/s ${(wr.cpuPerOp * 1000).toFixed(0)} us CPU/write`;
      }
    }
    console.error(line);
  }
  load();
  console.log(
    `\nKV v2 read of one credential through the endpoint, ${users} concurrent, cache off, ${duration} per side, median of ${runs} runs (${new Date().toISOString()})`,
  );
  console.log(`load average per run: ${loads.join(' | ')}`);
  console.log(
    `wrk (2 threads, ${users} connections): ${median(res.wrk.map((x) => x.rate)).toFixed(0)} req/s, ${(median(res.wrk.map((x) => x.cpuPerOp)) * 1000).toFixed(0)} us CPU per request`,
  );
  for (const [i, cli] of clis.entries()) {
    const c = res[cli];
    console.log(
      `[${i}] ${cli}\n    bench reads ${median(c.read.map((x) => x.rate)).toFixed(0)}/s, ratio to wrk ${median(c.ratio).toFixed(2)}x (per run ${c.ratio.map((x) => x.toFixed(2)).join(' ')}), ` +
        `client CPU ${(median(c.read.map((x) => x.cpuPerOp)) * 1000).toFixed(0)} us per read` +
        (c.write.length
          ? `; writes ${median(c.write.map((x) => x.rate)).toFixed(0)}/s, client CPU ${(median(c.write.map((x) => x.cpuPerOp)) * 1000).toFixed(0)} us per write`
          : ''),
    );
  }
  rmSync(dir, { recursive: true, force: true });
} finally {
  if (!keep) {
    spawnSync('node', [clis[0], 'down', '--volumes', '--purge', '--yes', '-q'], { cwd, env: cliEnv });
    rmSync(cwd, { recursive: true, force: true });
  } else console.error(`cluster kept: cd ${cwd}`);
}
process.exit(0);
