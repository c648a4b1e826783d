/**
 * `runBench`: the seed's load profile against the cluster vaultctl manages, as `vaultctl bench`
 * runs it: seed tenant credentials, drive the load through a VaultClient on every node, remove the
 * seeded credentials, judge the result against the targets.
 */
import { VaultClient } from '../client/index.js';
import type { Progress } from '../cluster/events.js';
import type { RunningCluster } from '../cluster/running.js';
import { throwIfAborted, UsageError } from '../errors.js';
import { type LoadResult, runLoad } from './load.js';
import { type BenchConfig, type BenchReport, benchReport, hitRate, seedPaths } from './report.js';

export interface BenchRun {
  readonly report: BenchReport;
  /** The cache hit rate unrounded (the report's has 3 decimals). */
  readonly cacheHitRate: number;
}

/** Parallel requests while seeding and cleaning up: enough to be quick, few enough not to queue. */
const BATCH = 20;

async function inBatches(
  paths: readonly string[],
  each: (path: string) => Promise<unknown>,
  signal?: AbortSignal,
): Promise<void> {
  for (let i = 0; i < paths.length; i += BATCH) {
    throwIfAborted(signal, 'seeding the benchmark credentials');
    await Promise.all(paths.slice(i, i + BATCH).map(each));
  }
}

/**
 * Runs one benchmark. The seeded credentials are removed whatever happens, Ctrl-C included; a
 * cancelled run then throws CancelledError instead of judging a cut-short measurement.
 *
 * @throws UsageError without a spec or a token; CancelledError when `signal` fired.
 */
export async function runBench(
  cluster: RunningCluster,
  config: BenchConfig,
  deps: { readonly progress: Progress; readonly signal?: AbortSignal | undefined },
): Promise<BenchRun> {
  const doing = 'running the benchmark';
  const { spec, tls } = cluster;
  if (!spec)
    throw new UsageError(
      doing,
      'a benchmark needs the cluster vaultctl manages (its spec)',
      'name the cluster vaultctl brought up with --cluster',
    );
  const token = await cluster.token();
  if (!token) throw new UsageError(doing, 'no token', 'run `vaultctl init` first, or export BAO_TOKEN');
  const client = new VaultClient({
    addresses: cluster.nodes.map((n) => n.address),
    token,
    ...(tls
      ? { ca: tls.ca, ...(tls.cert && tls.key ? { clientCert: { cert: tls.cert, key: tls.key } } : {}) }
      : {}),
    kvMount: spec.kv.path,
    cache: { enabled: config.cache },
    env: {},
  });

  const { progress, signal } = deps;
  const paths = seedPaths(config.tenants);
  let res: LoadResult;
  progress.step(`seeding ${paths.length} credentials`);
  try {
    await inBatches(paths, (p) => client.writeSecret(p, { api_key: 'seed', secret: 'seed-secret' }), signal);
    progress.step(
      `running: ${config.rate ? `${config.rate}/s fixed rate` : `${config.users} users, think ${config.as.think}`}, ${config.as.duration} after ${config.as.warmup} warm-up`,
    );
    res = await runLoad(client, {
      users: config.users,
      thinkMinMs: config.thinkMinMs,
      thinkMaxMs: config.thinkMaxMs,
      readRatio: config.readRatio,
      durationMs: config.durationMs,
      warmupMs: config.warmupMs,
      rate: config.rate,
      paths,
      signal,
      onProgress: (p) =>
        progress.step(
          `running: ${(p.elapsedMs / 1000).toFixed(0)} s, ${p.ops} operations, ${p.errors} errors`,
        ),
    });
  } finally {
    progress.step('removing the seeded credentials');
    await inBatches(paths, (p) => client.deleteSecret(p).catch(() => undefined));
  }
  throwIfAborted(signal, doing);
  const stats = client.stats();
  return { report: benchReport(config, res, stats), cacheHitRate: hitRate(stats) };
}
