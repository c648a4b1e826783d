#!/usr/bin/env node
// The host disk's own fsync tail, with no OpenBao and no Docker: what a raft log store can get from
// this disk at best. W writers (one per node: three raft logs on one disk, as in a local cluster)
// each append a 4 KiB record and fdatasync it, R times a second, for D seconds; optionally beside an
// "audit" writer that appends 1 KiB lines without syncing (what the file audit device does for every
// request: its dirty pages ride along with the next journal commit on ext4 data=ordered). The same
// run against a tmpfs directory is the baseline (no device under it). Per run: fsync p50/p99/max, and
// the seconds whose p99 is over 10 and over 20 ms; then medians over the runs.
//
// Usage: node bench/disk-fsync.mjs [--runs 3] [--duration 60] [--rate 20] [--writers 3]
//                                  [--audit-rate 180] [--dir <dir on the Docker volumes' disk>]
//                                  [--baseline /dev/shm]
import { mkdtempSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { arg, median, percentile } from './lib.mjs';

const runs = Number(arg('--runs', '3'));
const duration = Number(arg('--duration', '60'));
const rate = Number(arg('--rate', '20'));
const writers = Number(arg('--writers', '3'));
const auditRate = Number(arg('--audit-rate', '180'));
// /tmp is on the root filesystem here, the same ext4 as /var/lib/docker (the volumes).
const diskDir = arg('--dir', tmpdir());
const baselineDir = arg('--baseline', '/dev/shm');

const f = (v) => v.toFixed(2);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** One run in `dir`: per-second lists of fsync latencies (ms). */
async function run(dir, withAudit) {
  const work = mkdtempSync(join(dir, 'vaultctl-fsync-'));
  const record = Buffer.alloc(4096, 0x61);
  const line = Buffer.alloc(1024, 0x62);
  const seconds = Array.from({ length: duration }, () => []);
  const t0 = performance.now();
  const until = t0 + duration * 1000;
  try {
    const writer = async (i) => {
      const fh = await open(join(work, `raft-${i}.log`), 'a');
      try {
        let next = performance.now() + Math.random() * (1000 / rate);
        while (next < until) {
          await sleep(Math.max(0, next - performance.now()));
          const s = performance.now();
          await fh.write(record);
          await fh.datasync();
          const e = performance.now();
          const sec = Math.floor((s - t0) / 1000);
          if (sec < duration) seconds[sec].push(e - s);
          next += 1000 / rate;
        }
      } finally {
        await fh.close();
      }
    };
    const audit = async () => {
      const fh = await open(join(work, 'audit.log'), 'a');
      try {
        let next = performance.now();
        while (next < until) {
          await sleep(Math.max(0, next - performance.now()));
          await fh.write(line);
          next += 1000 / auditRate;
        }
      } finally {
        await fh.close();
      }
    };
    await Promise.all([
      ...Array.from({ length: writers }, (_, i) => writer(i)),
      ...(withAudit && auditRate > 0 ? [audit()] : []),
    ]);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const all = seconds.flat();
  const p99s = seconds.filter((s) => s.length > 0).map((s) => percentile(s, 99));
  return {
    n: all.length,
    p50: percentile(all, 50) ?? 0,
    p99: percentile(all, 99) ?? 0,
    max: Math.max(...all),
    over10: p99s.filter((v) => v > 10).length,
    over20: p99s.filter((v) => v > 20).length,
  };
}

console.log(
  `# bench/disk-fsync.mjs: ${runs} run(s) x ${duration} s; ${writers} writers x ${rate} fdatasync/s (4 KiB appends); audit writer ${auditRate} lines/s of 1 KiB, no sync`,
);
console.log(`# disk dir ${diskDir}, baseline dir ${baselineDir}; load average ${loadavg().map(f).join(' ')}`);
const cases = [
  { name: 'disk, audit writer on', dir: diskDir, audit: true },
  { name: 'disk, audit writer off', dir: diskDir, audit: false },
  { name: 'tmpfs baseline, audit on', dir: baselineDir, audit: true },
];
const results = Object.fromEntries(cases.map((c) => [c.name, []]));
for (let i = 1; i <= runs; i++)
  for (const c of cases) {
    const r = await run(c.dir, c.audit);
    results[c.name].push(r);
    console.log(
      `run ${i} ${c.name}: n=${r.n} p50 ${f(r.p50)} p99 ${f(r.p99)} max ${f(r.max)} ms; seconds with p99 > 10 ms: ${r.over10}, > 20 ms: ${r.over20} (load ${loadavg()[0].toFixed(2)})`,
    );
  }
console.log(
  `\n| case (median of ${runs}) | fsync p50 ms | p99 ms | max ms | seconds p99 > 10 ms | > 20 ms |`,
);
console.log('|---|---|---|---|---|---|');
for (const c of cases) {
  const rs = results[c.name];
  const m = (k) => median(rs.map((r) => r[k]));
  console.log(
    `| ${c.name} | ${f(m('p50'))} | ${f(m('p99'))} | ${f(m('max'))} | ${m('over10')} | ${m('over20')} |`,
  );
}
