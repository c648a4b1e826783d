#!/usr/bin/env node
// The latency tail over the seed's profile (100 users, think 0.1-1 s, 90 % reads), second by
// second, on its own cluster (vctl-bench-tail, ports 18760-18766), removed afterwards (also on
// failure). Each run is `vaultctl bench --timeline --format json`: the per-second timeline of the
// load (reads that reached a node, writes), the bench process's own event-loop delay, and every
// node's metrics in the same second (raft commit and log store, FSM backlog, BoltDB, GC, request
// time inside the node, snapshots and compactions), beside the load average and the nodes' raft
// log lines (snapshots, compactions, elections). It prints, per run: the overall percentiles, the
// goal (reads reaching a node p99 < 10 ms, writes p99 < 30 ms, no second with a p99 over 50 ms),
// and the worst seconds with what the nodes and the bench process did in them; then the share of
// the slow seconds that had a bench event-loop stall, a GC pause, or a raft event beside them.
//
// Usage: node bench/tail.mjs [--runs 1] [--duration 300s] [--warmup 10s] [--spec 'YAML'] [--keep]
//                            [--cwd dir] [--out dir]
//   --spec   YAML appended to the cluster spec (e.g. to try a raft setting)
//   --sampler on|off|alternate   sample every node's metrics each second (`bench --timeline`, the
//            default), or not (the bench's own timeline only), or alternate between runs: the
//            sampler parses three metrics pages a second in the bench's own event loop
//   --keep   leave the cluster up; with --cwd (its state dir's parent) a later run reuses it
//   --analyse file.json   only print the analysis of a saved run
//   --no-proxy-ab         skip the userland-proxy comparison
//   --tmpfs data|logs|data,logs   an experiment, not a setup to run: the nodes' raft data and/or
//            audit-log volumes made on tmpfs (swapped in after a first `up`, with the labels vaultctl gives
//            them, so `up` adopts them): it takes the disk out from under raft's fsync or the audit
//            file, to tell which of the two the write tail comes from. tmpfs loses everything on a
//            restart; never for a cluster that keeps data.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { arg, loadAverage, vaultctlIn, version } from './lib.mjs';

const runs = Number(arg('--runs', '1'));
const duration = arg('--duration', '300s');
const warmup = arg('--warmup', '10s');
const extraSpec = arg('--spec', '');
const keep = process.argv.includes('--keep');
const samplerArg = process.argv[process.argv.indexOf('--sampler') + 1];
const samplerMode = process.argv.includes('--sampler') ? samplerArg : 'on';
if (!['on', 'off', 'alternate'].includes(samplerMode)) {
  console.error(`--sampler takes on, off or alternate (got ${samplerMode})`);
  process.exit(1);
}
const tmpfs = arg('--tmpfs', '').split(',').filter(Boolean);
for (const k of tmpfs)
  if (k !== 'data' && k !== 'logs') {
    console.error(`--tmpfs takes data, logs or data,logs (got ${k})`);
    process.exit(1);
  }
const samplerFor = (run) => samplerMode === 'on' || (samplerMode === 'alternate' && run % 2 === 1);
const name = 'vctl-bench-tail';
const base = 18760;
const cwd = arg('--cwd', undefined) ?? mkdtempSync(join(tmpdir(), 'vaultctl-bench-tail-'));
const out = arg('--out', cwd);
mkdirSync(out, { recursive: true });

const vaultctl = vaultctlIn(cwd, { cluster: name });
const cli = (args, opts = {}) => (opts.allowFail ? vaultctl.run(...args) : vaultctl.must(...args)).out;
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] : 0;
};
const f1 = (v) => (v === undefined || v === null ? '-' : Number(v).toFixed(1));

/** The nodes' raft log lines in the run's window (docker logs with timestamps). */
function raftLines(since) {
  const lines = [];
  for (const n of [1, 2, 3]) {
    const r = spawnSync('docker', ['logs', '-t', '--since', since, `${name}-vault-${n}`], {
      encoding: 'utf8',
    });
    for (const l of `${r.stdout}${r.stderr}`.split('\n'))
      if (
        /snapshot|compact|election|leader|heartbeat timeout|rejected|failed to/i.test(l) &&
        !/TLS handshake/.test(l)
      )
        lines.push(`vault-${n} ${l.slice(0, 240)}`);
  }
  return lines;
}

/** Prints what one `bench --timeline --format json` report says about the tail. */
function analyse(r) {
  const tl = r.timeline;
  const loops = tl.map((s) => s.loop?.max ?? 0);
  console.log(
    `reads (all)        n=${r.read.count} p50 ${r.read.p50} p99 ${r.read.p99} p99.9 ${r.read.p999} max ${r.read.max} ms`,
  );
  console.log(
    `reads from a node  n=${r.readVault.count} p50 ${r.readVault.p50} p99 ${r.readVault.p99} p99.9 ${r.readVault.p999} max ${r.readVault.max} ms`,
  );
  console.log(
    `writes             n=${r.write.count} p50 ${r.write.p50} p99 ${r.write.p99} p99.9 ${r.write.p999} max ${r.write.max} ms`,
  );
  console.log(`throughput ${r.throughput} ops/s, errors ${r.errors}, cache hit rate ${r.cacheHitRate}`);
  const over = r.secondsOver50ms;
  const goal = {
    readP99: r.readVault.p99 < 10,
    writeP99: r.write.p99 < 30,
    noSlowSecond: over.read === 0 && over.write === 0,
  };
  console.log(
    `goal: reads from a node p99 < 10 ms ${goal.readP99 ? 'met' : 'MISSED'}; writes p99 < 30 ms ${goal.writeP99 ? 'met' : 'MISSED'}; ` +
      `seconds with p99 > 50 ms: ${over.read} (reads), ${over.write} (writes) ${goal.noSlowSecond ? 'met' : 'MISSED'}`,
  );
  console.log(
    `bench event loop, per-second max: median ${f1(pct(loops, 50))} p90 ${f1(pct(loops, 90))} max ${f1(Math.max(...loops))} ms; seconds over 20 ms: ${loops.filter((v) => v > 20).length}, over 50 ms: ${over.loop}`,
  );

  // Per node over the run: request time inside the node, commit, log store, GC, events.
  const names = Object.keys(tl.find((s) => s.nodes)?.nodes ?? {});
  for (const n of names) {
    const secs = tl.map((s) => s.nodes?.[n]).filter(Boolean);
    const mean = (k) => secs.map((s) => s.timings[k]?.mean).filter((v) => v !== undefined);
    const gc = secs.map((s) => s.values.gcPauseMs ?? 0);
    const ev = secs.flatMap((s, i) => Object.keys(s.events ?? {}).map((e) => `${e}@${i}s`));
    console.log(
      `${n}: request mean/s p50 ${f1(pct(mean('handleRequest'), 50))} max ${f1(Math.max(0, ...mean('handleRequest')))} ms; ` +
        `commit mean/s p50 ${f1(pct(mean('commitTime'), 50))} max ${f1(Math.max(0, ...mean('commitTime')))}; ` +
        `log store p50 ${f1(pct(mean('storeLogs'), 50))} max ${f1(Math.max(0, ...mean('storeLogs')))}; ` +
        `GC ms/s max ${f1(Math.max(0, ...gc))}; fsm pending max ${Math.max(0, ...secs.map((s) => s.values.fsmPending ?? 0))}; ` +
        `scrape max ${f1(Math.max(0, ...secs.map((s) => s.scrapeMs ?? 0)))} ms; unread ${secs.filter((s) => s.error).length}; ` +
        `applied index ${secs.at(-1)?.values.appliedIndex ?? '-'}; events ${ev.join(' ') || 'none'}`,
    );
  }

  // The worst seconds, and what was beside them.
  const worst = [...tl]
    .map((s) => ({ s, p: Math.max(s.read.n ? s.read.p99 : 0, s.write.n ? s.write.p99 : 0) }))
    .sort((a, b) => b.p - a.p)
    .slice(0, 8);
  console.log(
    'worst seconds (t: read p99/max, write p99/max, bench loop max | per node: req mean, commit, store, GC ms, scrape, events):',
  );
  for (const { s } of worst) {
    const nodes = Object.entries(s.nodes ?? {})
      .map(
        ([n, v]) =>
          `${n.replace('vault-', 'v')} ${f1(v.timings.handleRequest?.mean)}/${f1(v.timings.commitTime?.mean)}/${f1(v.timings.storeLogs?.mean)}/${f1(v.values.gcPauseMs)}/${f1(v.scrapeMs)}${v.events ? ` ${Object.keys(v.events).join(',')}` : ''}${v.error ? ' unread' : ''}`,
      )
      .join('  ');
    console.log(
      `  t=${s.t}: R ${f1(s.read.p99)}/${f1(s.read.max)} W ${f1(s.write.p99)}/${f1(s.write.max)} loop ${f1(s.loop?.max)} | ${nodes}`,
    );
  }
  const slow = tl.filter((s) => (s.read.n && s.read.p99 > 50) || (s.write.n && s.write.p99 > 50));
  const share = (pred) => `${slow.filter(pred).length}/${slow.length}`;
  const anyNode = (s, pred) => Object.values(s.nodes ?? {}).some(pred);
  console.log(
    `slow seconds (p99 > 50 ms) with: bench loop > 20 ms ${share((s) => (s.loop?.max ?? 0) > 20)}; ` +
      `a node GC > 5 ms ${share((s) => anyNode(s, (v) => (v.values.gcPauseMs ?? 0) > 5))}; ` +
      `a raft snapshot/compaction ${share((s) => anyNode(s, (v) => v.events))}; ` +
      `a node's request mean > 20 ms ${share((s) => anyNode(s, (v) => (v.timings.handleRequest?.mean ?? 0) > 20))}; ` +
      `commit mean > 20 ms ${share((s) => anyNode(s, (v) => (v.timings.commitTime?.mean ?? 0) > 20))}`,
  );
  const stalled = tl.filter((s) => (s.loop?.max ?? 0) > 20 && s.loop?.cpu !== undefined);
  if (stalled.length > 0)
    console.log(
      `bench CPU in the seconds its event loop stalled over 20 ms: median ${f1(
        pct(
          stalled.map((s) => s.loop.cpu),
          50,
        ),
      )} ms of 1000, max ${f1(Math.max(...stalled.map((s) => s.loop.cpu)))} (little CPU: the host did not schedule the bench, it was not busy itself)`,
    );
  return { over, goal };
}

/**
 * Docker's userland proxy: the same unauthenticated request (sys/health, answered by the node
 * itself) through the published port on 127.0.0.1 (docker-proxy copies every byte) and straight
 * to the container's address on the project's network, in interleaved blocks.
 */
async function proxyAb(blocks = 10, per = 200) {
  const state = join(cwd, '.vaultctl', name);
  const ca = readFileSync(join(state, 'tls', 'ca.pem'), 'utf8');
  const ip = spawnSync(
    'docker',
    ['inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}', `${name}-vault-1`],
    {
      encoding: 'utf8',
    },
  ).stdout.trim();
  const via = {
    proxy: { host: '127.0.0.1', port: base, agent: new Agent({ keepAlive: true, ca, maxSockets: 1 }) },
    direct: { host: ip, port: 8200, agent: new Agent({ keepAlive: true, ca, maxSockets: 1 }) },
  };
  const get = (p) =>
    new Promise((res, rej) => {
      const r = request({ ...p, path: '/v1/sys/health', servername: 'vault-1' }, (s) => {
        s.resume();
        s.on('end', res);
      });
      r.on('error', rej);
      r.end();
    });
  const lat = { proxy: [], direct: [] };
  const before = loadAverage();
  for (let b = 0; b < blocks; b++)
    for (const k of ['proxy', 'direct'])
      for (let i = 0; i < per; i++) {
        const t = performance.now();
        await get(via[k]);
        lat[k].push(performance.now() - t);
      }
  console.log(
    `\n## Docker's userland proxy (load average ${before} -> ${loadAverage()}): sequential sys/health on vault-1, ${blocks} interleaved blocks of ${per}`,
  );
  for (const k of ['proxy', 'direct'])
    console.log(
      `${k === 'proxy' ? '127.0.0.1 (docker-proxy)' : `${ip}:8200 (direct)`}: p50 ${pct(lat[k], 50).toFixed(3)} p90 ${pct(lat[k], 90).toFixed(3)} p99 ${pct(lat[k], 99).toFixed(3)} max ${Math.max(...lat[k]).toFixed(3)} ms`,
    );
  for (const a of Object.values(via)) a.agent.destroy();
}

const analyseOnly = arg('--analyse', undefined);
if (analyseOnly) {
  analyse(JSON.parse(readFileSync(analyseOnly, 'utf8')));
  process.exit(0);
}

const spec = [
  `name: ${name}`,
  `apiPortBase: ${base}`,
  `image: vaultctl/openbao:${version}`,
  ...(extraSpec ? [extraSpec] : []),
].join('\n');
writeFileSync(join(cwd, 'vaultctl.yaml'), `${spec}\n`);
console.log(`# bench/tail.mjs: ${runs} run(s) of the seed profile for ${duration} (warm-up ${warmup})`);
console.log(`# cluster ${name}, ports ${base}-${base + 6}, spec:\n${spec.replace(/^/gm, '#   ')}`);
console.log(`# cpus ${(await import('node:os')).cpus().length}, load average before: ${loadAverage()}`);

/** The experiment's tmpfs volumes, named and labelled as `up` would make them. */
function makeTmpfsVolumes() {
  for (const n of [1, 2, 3])
    for (const kind of tmpfs) {
      const labels = {
        'io.vaultctl.cluster': name,
        'io.vaultctl.node': `vault-${n}`,
        'io.vaultctl.kind': kind,
      };
      const r = spawnSync(
        'docker',
        [
          'volume',
          'create',
          ...Object.entries(labels).flatMap(([k, v]) => ['--label', `${k}=${v}`]),
          ...['--opt', 'type=tmpfs', '--opt', 'device=tmpfs', '--opt', 'o=size=1g'],
          `${name}-vault-${n}-${kind}`,
        ],
        { encoding: 'utf8' },
      );
      if (r.status !== 0) throw new Error(`docker volume create: ${r.stderr}`);
    }
}

const summary = [];
try {
  const t0 = Date.now();
  cli(['up', '-q']);
  if (tmpfs.length > 0) {
    // The first up made the state dir (seal key, CA); its volumes are empty (never initialised).
    cli(['down', '-q']);
    spawnSync('docker', [
      'volume',
      'rm',
      ...[1, 2, 3].flatMap((n) => tmpfs.map((k) => `${name}-vault-${n}-${k}`)),
    ]);
    makeTmpfsVolumes();
    cli(['up', '-q']);
    const vols = [1, 2, 3].flatMap((n) => tmpfs.map((k) => `${name}-vault-${n}-${k}`));
    const seen = spawnSync('docker', ['volume', 'inspect', '-f', '{{.Name}} {{.Options}}', ...vols], {
      encoding: 'utf8',
    }).stdout.trim();
    console.log(`# experiment: ${tmpfs.join(' and ')} volumes on tmpfs:\n${seen.replace(/^/gm, '#   ')}`);
  }
  cli(['init', '-q']);
  cli(['health', '--wait', '90s', '-q']);
  console.log(`# cluster healthy in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  if (!process.argv.includes('--no-proxy-ab')) await proxyAb();
  for (let run = 1; run <= runs; run++) {
    const since = new Date().toISOString();
    const before = loadAverage();
    const text = cli([
      '--format',
      'json',
      '-q',
      'bench',
      '--duration',
      duration,
      '--warmup',
      warmup,
      ...(samplerFor(run) ? ['--timeline'] : []),
    ]);
    const after = loadAverage();
    const file = join(out, `tail-run${run}.json`);
    writeFileSync(file, text);
    const r = JSON.parse(text);
    console.log(
      `\n## run ${run} (node sampler ${samplerFor(run) ? 'on' : 'off'}): load average before ${before}, after ${after}; JSON: ${file}`,
    );
    const verdict = analyse(r);
    const logs = raftLines(since);
    console.log(`raft log lines in the run (${logs.length}):`);
    for (const l of logs.slice(0, 20)) console.log(`  ${l}`);
    const { over, goal } = verdict;
    summary.push({
      run,
      sampler: samplerFor(run),
      before,
      after,
      readVault: r.readVault,
      write: r.write,
      over,
      goal,
    });
  }
  console.log('\n## summary');
  for (const s of summary)
    console.log(
      `run ${s.run} (sampler ${s.sampler ? 'on' : 'off'}, load ${s.before} -> ${s.after}): reads from a node p99 ${s.readVault.p99} max ${s.readVault.max}; writes p99 ${s.write.p99} max ${s.write.max}; seconds over 50 ms ${s.over.read}/${s.over.write}`,
    );
} finally {
  if (!keep) cli(['down', '--volumes', '--purge', '--yes', '-q'], { allowFail: true });
}
