import type { Command } from 'commander';
import type { HistogramSummary } from '../bench/histogram.js';
import type { BenchConfig, BenchReport } from '../bench/report.js';
import { runBench } from '../bench/run.js';
import { CheckFailedError, ExitCode, UsageError } from '../errors.js';
import { table } from '../output/format.js';
import { renderTimeline } from './bench-timeline.js';
import type { CommandDeps, GlobalOptions } from './command-deps.js';
import { openManagedCluster, output } from './command-deps.js';
import { action, countFlag, durationFlag, numberFlag, ratioFlag } from './flags.js';

export interface BenchOptions {
  /** Nodes of a cluster vaultctl did not start (after `init --addr`). */
  readonly addr?: string[];
  readonly users: string;
  readonly think: string;
  readonly readRatio: string;
  readonly listRatio: string;
  readonly duration: string;
  readonly warmup: string;
  readonly cache: string;
  readonly rate?: string;
  readonly tenants: string;
  readonly timeline?: boolean;
  readonly check?: boolean;
  readonly endpoint?: boolean;
}

export function parseThink(v: string): [number, number] {
  const parts = v.split('-');
  const lo = durationFlag(parts[0]!.trim(), 'think');
  const hi = parts[1] !== undefined ? durationFlag(parts[1].trim(), 'think') : lo;
  if (hi < lo)
    throw new UsageError(
      'reading --think',
      `"${v}": the upper bound is below the lower`,
      'use e.g. --think 0.1-1s or --think 0',
    );
  return [lo, hi];
}

export function parseBenchOptions(opts: BenchOptions): BenchConfig {
  const users = countFlag(opts.users, 'users', 1, 10_000);
  const [thinkMinMs, thinkMaxMs] = parseThink(
    opts.think.replace(/^(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)(ms|s|m)$/, '$1$3-$2$3'),
  );
  const readRatio = ratioFlag(opts.readRatio, 'read-ratio');
  const listRatio = ratioFlag(opts.listRatio, 'list-ratio');
  const durationMs = durationFlag(opts.duration, 'duration');
  const warmupMs = durationFlag(opts.warmup, 'warmup');
  const rate = opts.rate !== undefined ? numberFlag(opts.rate, 'rate', 0.1, 1_000_000) : undefined;
  const tenants = countFlag(opts.tenants, 'tenants', 1, 10_000);
  if (opts.cache !== 'on' && opts.cache !== 'off')
    throw new UsageError('reading --cache', `"${opts.cache}"`, 'use --cache on or --cache off');
  return {
    users,
    thinkMinMs,
    thinkMaxMs,
    readRatio,
    listRatio,
    durationMs,
    warmupMs,
    rate,
    tenants,
    cache: opts.cache === 'on',
    timeline: Boolean(opts.timeline),
    ...(opts.endpoint ? { viaEndpoint: true } : {}),
    as: { think: opts.think, duration: opts.duration, warmup: opts.warmup },
  };
}

/** The text report: the percentile table, a summary line and a line per verdict. */
export function renderText(report: BenchReport, cacheHitRate: number): string[] {
  const row = (name: string, h: HistogramSummary) => [
    name,
    String(h.count),
    ...[h.p50, h.p90, h.p99, h.p999, h.max].map((v) => v.toFixed(2)),
  ];
  const rows = [
    row('read (all)', report.read),
    ...(report.cache ? [row('read (cache hit)', report.readCached)] : []),
    row('read (from a node)', report.readVault),
    row('write', report.write),
    ...(report.listRatio > 0 ? [row('list', report.list)] : []),
  ];
  return [
    table(['OP', 'COUNT', 'P50 MS', 'P90 MS', 'P99 MS', 'P99.9 MS', 'MAX MS'], rows),
    '',
    `${report.mode === 'open' ? `open loop at ${report.rate}/s (latency from the scheduled start)` : `closed loop, ${report.users} users`}` +
      `${report.listRatio > 0 ? `, ${+(report.listRatio * 100).toFixed(1)} % lists` : ''}: ` +
      `${report.throughput} ops/s over ${report.durationSeconds} s, ${report.errors} errors (${(report.errorRate * 100).toFixed(3)} %), ` +
      `cache ${report.cache ? `hit rate ${(cacheHitRate * 100).toFixed(1)} %` : 'off'}${report.dropped ? `, ${report.dropped} not started (overload)` : ''}`,
    ...report.verdicts.map((v) =>
      v.value === null
        ? `  no data ${v.target} (nothing measured)`
        : `  ${v.met ? 'met   ' : 'MISSED'} ${v.target} (measured ${v.value.toFixed(3)})`,
    ),
  ];
}

export async function run(global: GlobalOptions, opts: BenchOptions, deps: CommandDeps): Promise<number> {
  const doing = 'running the benchmark';
  const config = parseBenchOptions(opts);
  const { cluster } = openManagedCluster(global, {}, deps, doing, opts.addr);
  const { report, cacheHitRate, leftover, vaultBenchmark } = await runBench(cluster, config, deps);
  deps.progress.stop();
  output(global, deps)(
    report,
    () => {
      const lines: string[] = [];
      if (config.timeline && report.timeline) lines.push(`${renderTimeline(report.timeline)}\n`);
      lines.push(...renderText(report, cacheHitRate));
      const over = report.secondsOver50ms;
      if (over)
        lines.push(
          `  seconds with a p99 over 50 ms: ${over.read} (reads from a node), ${over.write} (writes); bench event loop over 50 ms: ${over.loop}` +
            (over.slowWithLoopStall
              ? `; in ${over.slowWithLoopStall} slow second(s) the bench's own event loop stalled over 20 ms (the host did not run it: those latencies include that wait)`
              : ''),
        );
      return lines;
    },
    { vaultBenchmark },
  );
  if (leftover) throw leftover;
  if (opts.check && !report.targetsMet)
    throw new CheckFailedError(
      doing,
      report.verdicts.filter((v) => !v.met).map((v) => v.target),
    );
  return ExitCode.ok;
}

export function register(program: Command, deps: CommandDeps): void {
  program
    .command('bench')
    .summary("load test with the seed's profile; percentiles against its targets")
    .description(
      "Drives the cluster through VaultClient with the seed's profile: 100 users, 0.1-1 s think time, 90 % reads, on tenant " +
        'credential paths it seeds first under its own prefix (<kv>/vaultctl-bench/<run-id>/, refusing one that holds anything) and ' +
        'removes afterwards; it never touches data it did not write. --rate switches to a fixed arrival rate (latency counted from the ' +
        'scheduled start). --list-ratio makes that share of the operations the seed\'s "List Secrets" (a LIST of one seeded tenant\'s exchanges, never cached; the rest split by --read-ratio). Reports p50/p90/p99/p99.9/max per operation, throughput, errors and cache hit rate, with a verdict against ' +
        'the targets (cached read p99 < 2 ms, Vault read p99 < 20 ms, write p99 < 50 ms, errors < 0.1 %; with lists, list p50 < 50 ms and p99 < 100 ms); a target nothing was measured for has no data, which is not met. Exit 0; with --check, 3 when a target is missed or has no data; 2 when the cluster takes no writes, or when seeded credentials could not be removed (each listed on stderr).\n\n' +
        "--format json has a per-second timeline (latency per operation, operations, errors, the bench process's event-loop delay); with " +
        "--timeline every second also holds each node's metrics (from its metrics listener), and the text output prints it as a table. " +
        "--format vault-benchmark prints hashicorp/vault-benchmark's JSON report (tests kvv2_read_test, kvv2_write_test, kvv2_list_test, total; reads that reached a node).\n\n" +
        'Example:\n  $ vaultctl bench --duration 60s\n  $ vaultctl bench --cache off --rate 500 --duration 30s --format json\n  $ vaultctl bench --list-ratio 0.05 --duration 60s\n  $ vaultctl bench --duration 5m --timeline\n  $ vaultctl bench --users 32 --think 0 --cache off --read-ratio 1 --endpoint\n  $ vaultctl bench --cache off --list-ratio 0.1 --format vault-benchmark > vb.json',
    )
    .option('--users <n>', 'concurrent users (closed loop)', '100')
    .option('--think <range>', 'think time per user between operations, e.g. 0.1-1s or 0', '0.1-1s')
    .option('--read-ratio <r>', 'share of reads (of the operations that are not lists)', '0.9')
    .option('--list-ratio <r>', "share of operations that list a tenant's exchanges, 0 to 1", '0')
    .option('--duration <d>', 'measured duration', '5m')
    .option('--warmup <d>', 'unmeasured warm-up before it', '10s')
    .option('--cache <on|off>', "VaultClient's cache", 'on')
    .option('--rate <n>', 'fixed arrival rate per second (open loop)')
    .option('--tenants <n>', 'tenants to seed (6 credentials each)', '20')
    .option(
      '--timeline',
      "sample every node's metrics each second (raft, BoltDB, GC) and print a per-second table",
    )
    .option('--check', 'exit 3 when a target is missed or has no data')
    .option(
      '--endpoint',
      "send every operation through the cluster's endpoint (one address) instead of the nodes",
    )
    .option(
      '--addr <url...>',
      'node addresses of a cluster initialised with `init --addr` (one per node, the order init was given); --cluster names its state dir',
    )
    .action(action(deps.setExitCode, (global, opts: BenchOptions) => run(global, opts, deps)));
}
