import type { Command } from 'commander';
import type { Histogram } from '../bench/histogram.js';
import { runLoad } from '../bench/load.js';
import { credentialPath, VaultClient } from '../client/index.js';
import { UsageError } from '../errors.js';
import { json, table } from '../output/format.js';
import type { CommandDeps, GlobalOptions } from './context.js';
import { durationOption, numberOption, openManagedCluster } from './context.js';

export interface BenchOptions {
  readonly users: string;
  readonly think: string;
  readonly readRatio: string;
  readonly duration: string;
  readonly warmup: string;
  readonly cache: string;
  readonly rate?: string;
  readonly tenants: string;
  readonly check?: boolean;
}

/** The seed's targets (milliseconds, and a fraction for errors). */
export const TARGETS = { cachedReadP99: 2, vaultReadP99: 20, writeP99: 50, errorRate: 0.001 } as const;

export function parseThink(v: string): [number, number] {
  const parts = v.split('-');
  const lo = durationOption(parts[0]!.trim(), 'think');
  const hi = parts[1] !== undefined ? durationOption(parts[1].trim(), 'think') : lo;
  if (hi < lo)
    throw new UsageError(
      'reading --think',
      `"${v}": the upper bound is below the lower`,
      'use e.g. --think 0.1-1s or --think 0',
    );
  return [lo, hi];
}

export async function run(global: GlobalOptions, opts: BenchOptions, deps: CommandDeps): Promise<number> {
  const users = numberOption(opts.users, 'users', 1, 10_000);
  const [thinkMin, thinkMax] = parseThink(
    opts.think.replace(/^(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)(ms|s|m)$/, '$1$3-$2$3'),
  );
  const readRatio = numberOption(opts.readRatio, 'read-ratio', 0, 1);
  const durationMs = durationOption(opts.duration, 'duration');
  const warmupMs = durationOption(opts.warmup, 'warmup');
  const rate = opts.rate !== undefined ? numberOption(opts.rate, 'rate', 0.1, 1_000_000) : undefined;
  const tenants = numberOption(opts.tenants, 'tenants', 1, 10_000);
  if (opts.cache !== 'on' && opts.cache !== 'off')
    throw new UsageError('reading --cache', `"${opts.cache}"`, 'use --cache on or --cache off');
  const cacheOn = opts.cache === 'on';

  const { spec, cluster } = openManagedCluster(global, {}, deps, 'running the benchmark');
  const tls = cluster.tls;
  const token = await cluster.token();
  if (!token)
    throw new UsageError(
      'running the benchmark',
      'no token',
      'run `vaultctl init` first, or export BAO_TOKEN',
    );
  const client = new VaultClient({
    addresses: cluster.nodes.map((n) => n.address),
    token,
    ...(tls
      ? { ca: tls.ca, ...(tls.cert && tls.key ? { clientCert: { cert: tls.cert, key: tls.key } } : {}) }
      : {}),
    kvMount: spec.kv.path,
    cache: { enabled: cacheOn },
    env: {},
  });

  // Seed: tenants x 3 exchanges x 2 credential types, on the seed's credential paths.
  const paths: string[] = [];
  for (let t = 0; t < tenants; t++) {
    const id = `00000000-0000-4000-8000-${String(t + 1).padStart(12, '0')}`;
    for (const ex of ['binance', 'kraken', 'coinbase'])
      for (const ty of ['readonly', 'trading'] as const) paths.push(credentialPath(id, ex, ty));
  }
  deps.progress.step(`seeding ${paths.length} credentials`);
  for (let i = 0; i < paths.length; i += 20) {
    await Promise.all(
      paths.slice(i, i + 20).map((p) => client.writeSecret(p, { api_key: 'seed', secret: 'seed-secret' })),
    );
  }
  deps.progress.step(
    `running: ${rate ? `${rate}/s fixed rate` : `${users} users, think ${opts.think}`}, ${opts.duration} after ${opts.warmup} warm-up`,
  );
  const res = await runLoad(client, {
    users,
    thinkMinMs: thinkMin,
    thinkMaxMs: thinkMax,
    readRatio,
    durationMs,
    warmupMs,
    rate,
    paths,
    signal: deps.signal,
    onProgress: (p) =>
      deps.progress.step(
        `running: ${(p.elapsedMs / 1000).toFixed(0)} s, ${p.ops} operations, ${p.errors} errors`,
      ),
  });
  deps.progress.step('removing the seeded credentials');
  for (let i = 0; i < paths.length; i += 20) {
    await Promise.all(paths.slice(i, i + 20).map((p) => client.deleteSecret(p).catch(() => undefined)));
  }
  deps.progress.stop();

  const total = res.read.count + res.write.count + res.errors;
  const errorRate = total ? res.errors / total : 0;
  const stats = client.stats();
  const hitRate =
    stats.cacheHits + stats.cacheMisses ? stats.cacheHits / (stats.cacheHits + stats.cacheMisses) : 0;
  const read = res.read.summary();
  const readCached = res.readCached.summary();
  const readVault = res.readVault.summary();
  const write = res.write.summary();
  const cachedVerdict = {
    target: `cached read p99 < ${TARGETS.cachedReadP99} ms`,
    value: readCached.p99,
    met: readCached.count > 0 && readCached.p99 < TARGETS.cachedReadP99,
  };
  const verdicts = [
    ...(cacheOn ? [cachedVerdict] : []),
    {
      target: `Vault read p99 < ${TARGETS.vaultReadP99} ms`,
      value: readVault.p99,
      met: readVault.count === 0 || readVault.p99 < TARGETS.vaultReadP99,
    },
    {
      target: `write p99 < ${TARGETS.writeP99} ms`,
      value: write.p99,
      met: write.count === 0 || write.p99 < TARGETS.writeP99,
    },
    {
      target: `error rate < ${TARGETS.errorRate * 100} %`,
      value: errorRate * 100,
      met: errorRate < TARGETS.errorRate,
    },
  ];
  const seconds = res.elapsedMs / 1000;
  const report = {
    mode: res.mode,
    users,
    think: opts.think,
    rate: rate ?? null,
    readRatio,
    cache: cacheOn,
    durationSeconds: Math.round(seconds * 10) / 10,
    throughput: Math.round(((res.read.count + res.write.count) / seconds) * 10) / 10,
    read,
    readCached,
    readVault,
    write,
    errors: res.errors,
    errorRate,
    errorSamples: res.errorSamples,
    dropped: res.dropped,
    cacheHitRate: Math.round(hitRate * 1000) / 1000,
    failovers: stats.failovers,
    verdicts,
    targetsMet: verdicts.every((v) => v.met),
  };
  if (global.format === 'json') deps.out(json(report));
  else {
    const row = (name: string, h: ReturnType<Histogram['summary']>) => [
      name,
      String(h.count),
      ...[h.p50, h.p90, h.p99, h.p999, h.max].map((v) => v.toFixed(2)),
    ];
    const rows = [
      row('read (all)', read),
      ...(cacheOn ? [row('read (cache hit)', readCached)] : []),
      row('read (from a node)', readVault),
      row('write', write),
    ];
    deps.out(table(['OP', 'COUNT', 'P50 MS', 'P90 MS', 'P99 MS', 'P99.9 MS', 'MAX MS'], rows));
    deps.out('');
    deps.out(
      `${report.mode === 'open' ? `open loop at ${rate}/s (latency from the scheduled start)` : `closed loop, ${users} users`}: ` +
        `${report.throughput} ops/s over ${report.durationSeconds} s, ${res.errors} errors (${(errorRate * 100).toFixed(3)} %), ` +
        `cache ${cacheOn ? `hit rate ${(hitRate * 100).toFixed(1)} %` : 'off'}${res.dropped ? `, ${res.dropped} not started (overload)` : ''}`,
    );
    for (const v of verdicts)
      deps.out(`  ${v.met ? 'met   ' : 'MISSED'} ${v.target} (measured ${v.value.toFixed(3)})`);
  }
  return opts.check && !report.targetsMet ? 1 : 0;
}

export function register(program: Command, deps: CommandDeps): void {
  program
    .command('bench')
    .summary("load test with the seed's profile; percentiles against its targets")
    .description(
      "Drives the cluster through VaultClient with the seed's profile: 100 users, 0.1-1 s think time, 90 % reads, on tenant " +
        'credential paths it seeds first and removes afterwards. --rate switches to a fixed arrival rate (latency counted from the ' +
        'scheduled start). Reports p50/p90/p99/p99.9/max per operation, throughput, errors and cache hit rate, with a verdict against ' +
        'the targets (cached read p99 < 2 ms, Vault read p99 < 20 ms, write p99 < 50 ms, errors < 0.1 %). Exit 0; with --check, 1 when a target is missed.\n\n' +
        'Example:\n  $ vaultctl bench --duration 60s\n  $ vaultctl bench --cache off --rate 500 --duration 30s --format json',
    )
    .option('--users <n>', 'concurrent users (closed loop)', '100')
    .option('--think <range>', 'think time per user between operations, e.g. 0.1-1s or 0', '0.1-1s')
    .option('--read-ratio <r>', 'share of reads', '0.9')
    .option('--duration <d>', 'measured duration', '5m')
    .option('--warmup <d>', 'unmeasured warm-up before it', '10s')
    .option('--cache <on|off>', "VaultClient's cache", 'on')
    .option('--rate <n>', 'fixed arrival rate per second (open loop)')
    .option('--tenants <n>', 'tenants to seed (6 credentials each)', '20')
    .option('--check', 'exit 1 when a target is missed')
    .action(async (opts: BenchOptions, c: Command) => {
      deps.setExitCode(await run(c.optsWithGlobals() as GlobalOptions, opts, deps));
    });
}
