#!/usr/bin/env node
// Rolling upgrade benchmark: a fresh OpenBao 2.6.2 cluster of 3 and of 5 nodes upgraded to the
// pinned version through the CLI, under the default live writes, N runs each. Prints per node
// count the median (and worst) total time, the longest gap between acknowledged writes, writes
// failed and lost, and the median time of each kind of step. Load from `uptime` before and after:
// the machine is shared. Own clusters vctl-bench-upgrade-<n> on ports 18920-18931, removed
// afterwards (also on failure).
//
// Usage: node bench/upgrade.mjs [--runs 3] [--nodes 3,5] [--from 2.6.2] [--rate 20]
import { execSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { arg, max, median, root, vaultctlIn, version } from './lib.mjs';

const runs = Number(arg('--runs', '3'));
const counts = arg('--nodes', '3,5').split(',').map(Number);
const previous = /OPENBAO_PREVIOUS_VERSION=(\S+)/.exec(
  readFileSync(join(root, 'config/versions.env'), 'utf8'),
)?.[1];
const from = arg('--from', previous ?? '2.6.2');
const rate = arg('--rate', '20');

const s = (ms) => (ms === null ? '-' : (ms / 1000).toFixed(2));

console.log(`load before: ${execSync('uptime').toString().trim()}`);
const rows = [];
let failedRuns = 0;
for (const n of counts) {
  const name = `vctl-bench-upgrade-${n}`;
  const results = [];
  for (let r = 1; r <= runs; r++) {
    const cwd = mkdtempSync(join(tmpdir(), 'vaultctl-bench-upgrade-'));
    const { run: vaultctl } = vaultctlIn(cwd, { cluster: name });
    const must = (res, what) => {
      if (res.status !== 0)
        throw new Error(`${what} exited ${res.status}: ${res.err.split('\n').slice(-6).join('\n')}`);
      return res;
    };
    try {
      must(vaultctl('up', '--server-version', from, '--nodes', String(n), '--api-port', '18920'), 'up');
      must(vaultctl('init'), 'init');
      const res = must(
        vaultctl('upgrade', '--server-version', version, '--yes', '--rate', rate, '--format', 'json'),
        'upgrade',
      );
      const u = JSON.parse(res.out);
      if (!u.after.every((x) => x.version === version)) throw new Error(`not every node on ${version}`);
      results.push(u);
      console.error(
        `${n} nodes, run ${r}: total ${s(u.totalMs)} s, longest gap ${s(u.traffic.longestAckGapMs)} s, ` +
          `${u.traffic.acked}/${u.traffic.sent} acked, ${u.traffic.failed} failed, ${u.traffic.lost} lost; steps: ` +
          u.steps.map((x) => `${x.action} ${x.node} ${s(x.ms)} s (gap ${s(x.longestAckGapMs)})`).join(', '),
      );
    } catch (err) {
      failedRuns++;
      console.error(`${n} nodes, run ${r}: FAILED: ${err.message}`);
    } finally {
      vaultctl('down', '--volumes', '--purge', '--yes');
      rmSync(cwd, { recursive: true, force: true });
    }
  }
  const stepMs = (kind) =>
    median(results.flatMap((u) => u.steps.filter((x) => x.action === kind).map((x) => x.ms)));
  rows.push({
    nodes: n,
    runs: results.length,
    total: median(results.map((u) => u.totalMs)),
    totalMax: max(results.map((u) => u.totalMs)),
    gap: median(results.map((u) => u.traffic.longestAckGapMs)),
    gapMax: max(results.map((u) => u.traffic.longestAckGapMs)),
    stepDownGap: median(
      results.flatMap((u) => u.steps.filter((x) => x.action === 'step-down').map((x) => x.longestAckGapMs)),
    ),
    failed: results.reduce((a, u) => a + u.traffic.failed, 0),
    lost: results.reduce((a, u) => a + u.traffic.lost, 0),
    acked: results.reduce((a, u) => a + u.traffic.acked, 0),
    recreate: stepMs('recreate'),
    stepDown: stepMs('step-down'),
    snapshot: stepMs('snapshot'),
  });
}
console.log(`load after: ${execSync('uptime').toString().trim()}`);
console.log(`\nupgrade ${from} -> ${version}, ${rate} writes/s, median of ${runs} (worst in brackets)`);
console.log(
  'NODES  RUNS  TOTAL S        LONGEST GAP S  STEP-DOWN GAP S  ACKED  FAILED  LOST  RECREATE S  STEP-DOWN S  SNAPSHOT S',
);
for (const x of rows)
  console.log(
    [
      String(x.nodes).padEnd(5),
      String(x.runs).padEnd(4),
      `${s(x.total)} (${s(x.totalMax)})`.padEnd(13),
      `${s(x.gap)} (${s(x.gapMax)})`.padEnd(13),
      s(x.stepDownGap).padEnd(15),
      String(x.acked).padEnd(5),
      String(x.failed).padEnd(6),
      String(x.lost).padEnd(4),
      s(x.recreate).padEnd(10),
      s(x.stepDown).padEnd(11),
      s(x.snapshot),
    ].join('  '),
  );
process.exitCode = failedRuns > 0 || rows.some((x) => x.lost > 0) ? 1 : 0;
