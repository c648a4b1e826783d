#!/usr/bin/env node
// Failover drill benchmark: N rounds per fault kind (kill, stop, pause, partition) on the leader,
// for each raft performance_multiplier given, through the CLI as an operator runs it. Prints the
// median and worst RTO (longest time without an acknowledged write), the median time to a new
// leader, failed and lost writes, and rejoin time, per multiplier and fault; then the same rounds
// as the drill's second writer saw them through the active-node endpoint (one address).
// Own cluster vctl-bench-drill on ports 18440-18446, removed afterwards (also on failure).
//
// Usage: node bench/drill.mjs [--rounds 10] [--multipliers 1,5] [--faults kill,stop,pause,partition]
//                             [--duration 5s] [--rate 20] [--cli bin/vaultctl]
//                             [--name vctl-bench-drill --port-base 18440] (another cluster, ports base..base+6)
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { arg, max, median, vaultctlIn, version } from './lib.mjs';

const rounds = arg('--rounds', '10');
const multipliers = arg('--multipliers', '1,5').split(',').map(Number);
const faults = arg('--faults', 'kill,stop,pause,partition').split(',');
const duration = arg('--duration', '5s');
const rate = arg('--rate', '20');
const name = arg('--name', 'vctl-bench-drill');
const portBase = arg('--port-base', '18440');
const cli = arg('--cli', join(root, 'bin/vaultctl'));

const s = (ms) => (ms === null ? '-' : (ms / 1000).toFixed(2));

const rows = [];
for (const mult of multipliers) {
  const cwd = mkdtempSync(join(tmpdir(), 'vaultctl-bench-drill-'));
  writeFileSync(
    join(cwd, 'vaultctl.yaml'),
    `name: ${name}\nimage: vaultctl/openbao:${version}\napiPortBase: ${portBase}\nraft:\n  performanceMultiplier: ${mult}\n`,
  );
  const { run: vaultctl } = vaultctlIn(cwd, { stderr: 'inherit', cli });
  const must = (...a) => {
    const r = vaultctl(...a);
    if (r.status !== 0) throw new Error(`vaultctl ${a.join(' ')} exited ${r.status}`);
    return r;
  };
  try {
    console.error(`== performance_multiplier ${mult}: bringing up ${name}`);
    must('down', '--volumes', '--purge', '--yes', '-q');
    must('up', '-q');
    must('init', '-q');
    must('health', '--wait', '60s', '-q');
    for (const fault of faults) {
      console.error(`== multiplier ${mult}: ${rounds} rounds of ${fault} leader`);
      // Exit 3 (a check failed, e.g. RTO above --max-rto) still prints the report; it is a figure here.
      const r = vaultctl(
        'failover-drill',
        '--fault',
        fault,
        '--target',
        'leader',
        '--rounds',
        rounds,
        '--duration',
        duration,
        '--rate',
        rate,
        '--max-rto',
        '5s',
        '--format',
        'json',
        '--yes',
        '-q',
      );
      if (r.status !== 0 && r.status !== 3)
        throw new Error(`failover-drill --fault ${fault} exited ${r.status}`);
      const rep = JSON.parse(r.out);
      const rs = rep.rounds;
      rows.push({
        multiplier: mult,
        fault,
        rounds: rs.length,
        rtoMedian: median(rs.map((x) => x.rtoMs)),
        rtoWorst: max(rs.map((x) => x.rtoMs)),
        unavailMedian: median(rs.map((x) => x.writeUnavailableMs)),
        newLeaderMedian: median(rs.map((x) => x.newLeaderMs)),
        leaderChanged: rs.filter((x) => x.leaderChanged).length,
        failed: rs.reduce((a, x) => a + x.writes.failed, 0),
        acked: rs.reduce((a, x) => a + x.writes.acked, 0),
        lost: rs.reduce((a, x) => a + x.lostWrites, 0),
        rejoinMedian: median(rs.map((x) => x.rejoinMs)),
        healed: rs.filter((x) => x.healed).length,
        under2s: rs.filter((x) => x.rtoMs !== null && x.rtoMs < 2000).length,
        // The same rounds as a one-address client saw them through the active-node endpoint.
        epRtoMedian: median(rs.map((x) => x.endpoint?.rtoMs ?? null)),
        epRtoWorst: max(rs.map((x) => x.endpoint?.rtoMs ?? null)),
        epFailed: rs.reduce((a, x) => a + (x.endpoint?.writes.failed ?? 0), 0),
        epAcked: rs.reduce((a, x) => a + (x.endpoint?.writes.acked ?? 0), 0),
        epLost: rs.reduce((a, x) => a + (x.endpoint?.lostWrites ?? 0), 0),
        // Per round: endpoint RTO minus the direct writer's, both measured in that round.
        epDeltaMedian: median(
          rs.map((x) => (x.endpoint?.rtoMs == null || x.rtoMs == null ? null : x.endpoint.rtoMs - x.rtoMs)),
        ),
      });
      console.error(JSON.stringify(rows[rows.length - 1]));
    }
  } finally {
    vaultctl('down', '--volumes', '--purge', '--yes', '-q');
    rmSync(cwd, { recursive: true, force: true });
  }
}

console.log(
  `failover drill on the leader: ${rounds} rounds per fault, fault held ${duration}, ${rate} writes/s; RTO = longest time without an acknowledged write`,
);
console.log(
  '| multiplier | fault | rounds | RTO median s | RTO worst s | rounds < 2 s | write-unavailable median s | new leader median s | leader changed | writes acked | failed | lost | rejoin median s | healed |',
);
console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  console.log(
    `| ${r.multiplier} | ${r.fault} | ${r.rounds} | ${s(r.rtoMedian)} | ${s(r.rtoWorst)} | ${r.under2s}/${r.rounds} | ${s(r.unavailMedian)} | ${s(r.newLeaderMedian)} | ${r.leaderChanged}/${r.rounds} | ${r.acked} | ${r.failed} | ${r.lost} | ${s(r.rejoinMedian)} | ${r.healed}/${r.rounds} |`,
  );
}
console.log(
  '\nthe same rounds through the active-node endpoint (a one-address client beside the direct writer):',
);
console.log(
  '| multiplier | fault | RTO median s | RTO worst s | endpoint - direct, median of rounds s | writes acked | failed | lost |',
);
console.log('|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  console.log(
    `| ${r.multiplier} | ${r.fault} | ${s(r.epRtoMedian)} | ${s(r.epRtoWorst)} | ${s(r.epDeltaMedian)} | ${r.epAcked} | ${r.epFailed} | ${r.epLost} |`,
  );
}
