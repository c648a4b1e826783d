#!/usr/bin/env node
// What fills the gap between a new leader's election and the first acknowledged write, with
// timestamps. Per round: the leader is killed (docker kill) under closed-loop writers, one per node
// (direct) and one through the endpoint, every request recorded (sent, answered, status or error);
// sys/health is polled every 20 ms on each node (answered locally, never forwarded); the new
// leader's log lines around the election are read with their timestamps. Prints per round and as
// medians, from the kill: the new leader's "entering leader state" and post-unseal lines, the first
// health poll that says active, the first write acknowledged by it directly, and through the
// endpoint; and what the requests in between got.
// Own cluster vctl-pf-gap on ports 19510-19516, removed afterwards.
//
// Usage: node bench/election-gap.mjs [--rounds 5] [--cli bin/vaultctl] [--spec-extra 'endpoint:|  checkInterval: 100ms']
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { arg, cliEnv, root, version } from './lib.mjs';

const rounds = Number(arg('--rounds', '5'));
const cli = resolve(arg('--cli', join(root, 'bin/vaultctl')));
const extra = arg('--spec-extra', '').split('|').join('\n');
const name = 'vctl-pf-gap';
const base = 19510;
const cwd = mkdtempSync(join(tmpdir(), 'vaultctl-bench-gap-'));
writeFileSync(
  join(cwd, 'vaultctl.yaml'),
  `name: ${name}\nimage: vaultctl/openbao:${version}\napiPortBase: ${base}\n${extra ? `${extra}\n` : ''}`,
);
const nodes = ['vault-1', 'vault-2', 'vault-3'];
const addr = (i) => `https://127.0.0.1:${base + 2 * i}`;
const endpoint = `https://127.0.0.1:${base + 6}`;
const vaultctl = (...a) => {
  const r = spawnSync('node', [cli, ...a], { cwd, env: cliEnv, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`vaultctl ${a.join(' ')}: exit ${r.status}: ${r.stderr}`);
  return r.stdout;
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => {
  const s = xs.filter((x) => x != null).sort((a, b) => a - b);
  if (!s.length) return null;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

let token;
let ca;
/** One request; resolves with { status, error, body } (never rejects). Times are Date.now(). */
function call(agent, url, method, path, body, timeoutMs) {
  return new Promise((res) => {
    const payload = body ? JSON.stringify(body) : undefined;
    const req = request(
      `${url}/v1/${path}`,
      {
        method,
        agent,
        headers: {
          'X-Vault-Token': token,
          ...(payload
            ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) }
            : {}),
        },
      },
      (r) => {
        let text = '';
        r.setEncoding('utf8');
        r.on('data', (d) => {
          text += d;
        });
        r.on('end', () => {
          clearTimeout(timer);
          let msg = '';
          try {
            msg = JSON.parse(text).errors?.[0] ?? '';
          } catch {}
          res({ status: r.statusCode, error: msg });
        });
        r.on('error', (e) => res({ status: 0, error: e.code ?? e.message }));
      },
    );
    const timer = setTimeout(
      () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })),
      timeoutMs,
    );
    req.on('error', (e) => {
      clearTimeout(timer);
      res({ status: 0, error: e.code ?? e.message });
    });
    req.end(payload);
  });
}

async function round(r) {
  const agents = [...nodes.map(() => new Agent({ keepAlive: true, ca })), new Agent({ keepAlive: true, ca })];
  const roles = await Promise.all(
    nodes.map((_, i) => call(agents[i], addr(i), 'GET', 'sys/health', undefined, 1000)),
  );
  const leaderIdx = roles.findIndex((x) => x.status === 200);
  if (leaderIdx < 0) throw new Error('no active node before the round');
  const records = []; // { target, sentAt, doneAt, status, error }
  const health = []; // { node, at, status }
  let stop = false;
  const targets = [
    ...nodes.map((n, i) => ({ name: n, url: addr(i), agent: agents[i] })),
    { name: 'endpoint', url: endpoint, agent: agents[3] },
  ];
  let seq = 0;
  const writers = targets.map(async (t) => {
    while (!stop) {
      const sentAt = Date.now();
      const a = await call(
        t.agent,
        t.url,
        'POST',
        `secret/data/vctl-pf-gap/${r}/${seq++}`,
        { data: { v: 1 } },
        1000,
      );
      records.push({ target: t.name, sentAt, doneAt: Date.now(), ...a });
      if (a.status !== 200) await sleep(10);
    }
  });
  const pollers = nodes.map(async (n, i) => {
    const ha = new Agent({ keepAlive: true, ca });
    while (!stop) {
      const at = Date.now();
      const a = await call(ha, addr(i), 'GET', 'sys/health', undefined, 500);
      health.push({ node: n, at, status: a.status });
      const wait = 20 - (Date.now() - at);
      if (wait > 0) await sleep(wait);
    }
    ha.destroy();
  });
  await sleep(1000);
  const victim = nodes[leaderIdx];
  const killAt = Date.now();
  spawnSync('docker', ['kill', `${name}-${victim}`]);
  const killedAt = Date.now();
  // Until the endpoint and a direct writer have each had an acknowledged write, 1 s more, or 15 s.
  const okAfter = (t) => records.find((x) => x.target === t && x.status === 200 && x.sentAt > killedAt);
  while (Date.now() - killAt < 15_000) {
    if (okAfter('endpoint') && nodes.some((n) => n !== victim && okAfter(n))) break;
    await sleep(50);
  }
  await sleep(500);
  stop = true;
  await Promise.all([...writers, ...pollers]);
  for (const a of agents) a.destroy();

  const rel = (t) => (t == null ? null : t - killAt);
  const firstActive = health.find((h) => h.at > killAt && h.node !== victim && h.status === 200);
  const leader = firstActive?.node;
  // Writes sent after the kill: one sent before it may still be acknowledged (the old leader had it).
  const ok = (t) => records.find((x) => x.target === t && x.status === 200 && x.sentAt > killedAt);
  const okLeader = leader ? ok(leader) : undefined;
  const okEndpoint = ok('endpoint');
  // The new leader's log around the election.
  const logs = spawnSync(
    'docker',
    ['logs', '--timestamps', '--since', new Date(killAt - 2000).toISOString(), `${name}-${leader}`],
    {
      encoding: 'utf8',
    },
  );
  const lines = `${logs.stdout}${logs.stderr}`.split('\n');
  const logAt = (re) => {
    const l = lines.find((x) => re.test(x));
    return l ? rel(Date.parse(l.split(' ')[0])) : null;
  };
  const res = {
    victim,
    leader,
    electionLog: logAt(/entering leader state/),
    lockLog: logAt(/acquired lock, enabling active operation/),
    setupDoneLog: logAt(/post-unseal setup complete/),
    healthActive: rel(firstActive?.at),
    leaderFirstOkSent: rel(okLeader?.sentAt),
    leaderFirstOkDone: rel(okLeader?.doneAt),
    endpointFirstOkSent: rel(okEndpoint?.sentAt),
    endpointFirstOkDone: rel(okEndpoint?.doneAt),
  };
  // What the new leader and the endpoint answered after the kill until their first acknowledged write.
  const between = (t, until) =>
    records
      .filter(
        (x) =>
          x.target === t &&
          x.doneAt > killAt &&
          x.doneAt <= (until ?? Number.POSITIVE_INFINITY) &&
          x.status !== 200,
      )
      .map(
        (x) =>
          `${rel(x.sentAt)}->${rel(x.doneAt)} ${x.status || ''}${x.error ? ` ${x.error.slice(0, 60)}` : ''}`,
      );
  res.leaderAnswers = leader ? between(leader, okLeader?.doneAt) : [];
  res.endpointAnswers = between('endpoint', okEndpoint?.doneAt);
  // Bring the killed node back for the next round.
  vaultctl('up', '-q');
  vaultctl('health', '--wait', '60s', '-q');
  return res;
}

const out = [];
try {
  vaultctl('up', '-q');
  vaultctl('init', '-q');
  vaultctl('health', '--wait', '60s', '-q');
  const state = join(cwd, '.vaultctl', name);
  token = JSON.parse(readFileSync(join(state, 'init.json'), 'utf8')).rootToken;
  ca = readFileSync(join(state, 'tls', 'ca.pem'), 'utf8');
  for (let r = 0; r < rounds; r++) {
    const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
    const res = await round(r);
    out.push(res);
    console.error(`round ${r + 1} (load ${load}): ${JSON.stringify(res)}`);
    await sleep(3000);
  }
  const keys = [
    'electionLog',
    'lockLog',
    'setupDoneLog',
    'healthActive',
    'leaderFirstOkSent',
    'leaderFirstOkDone',
    'endpointFirstOkSent',
    'endpointFirstOkDone',
  ];
  console.log(
    `\nleader killed under closed-loop writers, ms from the kill, median of ${rounds} rounds (${new Date().toISOString()})`,
  );
  for (const k of keys)
    console.log(`  ${k.padEnd(22)} ${median(out.map((x) => x[k]))}   (${out.map((x) => x[k]).join(' ')})`);
  const gap = (x, k) => (x[k] == null || x.electionLog == null ? null : x[k] - x.electionLog);
  console.log(
    `  election -> first write acknowledged by the new leader: ${median(out.map((x) => gap(x, 'leaderFirstOkDone')))} ms`,
  );
  console.log(
    `  election -> first write acknowledged through the endpoint: ${median(out.map((x) => gap(x, 'endpointFirstOkDone')))} ms`,
  );
} finally {
  spawnSync('node', [cli, 'down', '--volumes', '--purge', '--yes', '-q'], { cwd, env: cliEnv });
  rmSync(cwd, { recursive: true, force: true });
}
process.exit(0);
