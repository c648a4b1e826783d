/**
 * `runBench`: the seed's load profile against the cluster vaultctl manages, as `vaultctl bench`
 * runs it: check that the cluster takes writes, seed tenant credentials under the run's own
 * prefix, drive the load through a VaultClient on every node, remove what it seeded, judge the
 * result against the targets.
 */
import { VaultClient } from '../client/index.js';
import type { Progress } from '../cluster/events.js';
import type { RunningCluster } from '../cluster/running.js';
import {
  errorMessage,
  LeftoverError,
  RemoteError,
  throwIfAborted,
  UsageError,
  VaultctlError,
} from '../errors.js';
import { checkHealth } from '../health/health.js';
import { endpointAddress, nodeMetricsAddress } from '../spec/names.js';
import type { VaultNode } from '../vault/port.js';
import { type LoadResult, runLoad } from './load.js';
import { NodeSampler, type NodeSecond } from './node-sampler.js';
import { type BenchConfig, type BenchReport, benchReport, hitRate, lineUp } from './report.js';
import {
  type CleanupResult,
  removeCredentials,
  type SeedPlan,
  seedCredentials,
  seedPlan,
  tenantListPrefixes,
} from './seed.js';
import { Timeline } from './timeline.js';
import { type VaultBenchmarkReport, vaultBenchmarkReport } from './vault-benchmark.js';

export interface BenchRun {
  readonly report: BenchReport;
  /** The cache hit rate unrounded (the report's has 3 decimals). */
  readonly cacheHitRate: number;
  /** The same run in vault-benchmark's report shape (`--format vault-benchmark`). */
  readonly vaultBenchmark: VaultBenchmarkReport;
  /**
   * Set when some seeded credentials could not be removed: the command throws it after printing
   * the report (the measurement stands; the run still fails).
   */
  readonly leftover?: LeftoverError;
}

/** How long cleanup waits for a leader before its second pass. */
const CLEANUP_LEADER_WAIT_MS = 10_000;

/**
 * The active node, which takes the seed's writes. A cluster with none (sealed, not initialised,
 * stopped, or standbys without quorum) is a remote error naming each node's state, with what to
 * do about it; no token is needed to find out, so an uninitialised cluster says so.
 */
async function activeNode(cluster: RunningCluster, doing: string): Promise<{ name: string }> {
  const targets = cluster.nodes.map((n) => ({ name: n.name, address: n.address }));
  const h = await checkHealth(targets, cluster.expectedVoters, {
    connect: cluster.connector,
    tls: cluster.tls,
  });
  const active = h.nodes.find((n) => n.active);
  if (active) return active;
  const hints = ['`vaultctl health` shows every node'];
  if (h.nodes.some((n) => n.reachable && !n.initialized))
    hints.push('`vaultctl init` initialises the cluster');
  if (h.nodes.some((n) => n.reachable && n.initialized && n.sealed))
    hints.push('`vaultctl unseal` unseals it');
  if (h.nodes.some((n) => !n.reachable)) hints.push('`vaultctl up` starts stopped nodes');
  throw new RemoteError(doing, `the cluster cannot take writes: ${h.reasons.join('; ')}`, hints.join('; '));
}

function leftoverError(
  mount: string,
  plan: SeedPlan,
  created: number,
  cleanup: CleanupResult,
  outcome: { failure?: unknown; cancelled: boolean },
): LeftoverError {
  const { failure, cancelled } = outcome;
  const first =
    failure instanceof VaultctlError
      ? `${failure.doing}: ${failure.message}`
      : failure
        ? errorMessage(failure)
        : '';
  const before = cancelled ? '; the run was cancelled' : first ? `; the run had failed (${first})` : '';
  return new LeftoverError(
    'removing the benchmark credentials',
    `${cleanup.left.length} of ${created} could not be removed (${cleanup.cause ?? 'unknown'})${before}`,
    cleanup.left.map((p) => `${mount}/${p}`),
    `all are under ${mount}/${plan.prefix}/ and hold only benchmark values: remove each with \`bao kv metadata delete <path>\` once the cluster serves again (\`vaultctl health\`)`,
    { afterReport: !failure && !cancelled, cause: failure },
  );
}

/**
 * Runs one benchmark. It writes only under its own new prefix, refuses if anything is there, and
 * removes what it wrote whatever happens, Ctrl-C included; a cancelled run then throws
 * CancelledError instead of judging a cut-short measurement.
 *
 * @throws RemoteError when no node takes writes; UsageError without a spec or a token, or when the
 *   prefix is not empty; CancelledError when `signal` fired; LeftoverError when a failed or
 *   cancelled run could not remove what it seeded (a finished one returns it in `leftover`).
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
  const seedOn = await activeNode(cluster, doing);
  const token = await cluster.token();
  if (!token) throw new UsageError(doing, 'no token', 'run `vaultctl init` first, or export BAO_TOKEN');
  const mount = spec.kv.path;
  // The active node first: a standby would forward every request to it (one more hop, on the
  // cluster port, for every operation measured); the others stay for failover.
  const addresses = [
    ...cluster.nodes.filter((n) => n.name === seedOn.name),
    ...cluster.nodes.filter((n) => n.name !== seedOn.name),
  ].map((n) => n.address);
  const endpoint = config.viaEndpoint ? endpointAddress(spec) : undefined;
  if (config.viaEndpoint && !endpoint)
    throw new UsageError(doing, 'the cluster has no endpoint', 'run without --endpoint');
  const client = new VaultClient({
    addresses: endpoint ? [endpoint] : addresses,
    token,
    ...(tls
      ? { ca: tls.ca, ...(tls.cert && tls.key ? { clientCert: { cert: tls.cert, key: tls.key } } : {}) }
      : {}),
    kvMount: mount,
    cache: { enabled: config.cache },
    env: {},
  });

  const { progress, signal } = deps;
  const seeder: VaultNode = cluster.node(seedOn.name).api({ token });
  const plan = seedPlan(config.tenants);
  const created = new Set<string>();
  let res: LoadResult | undefined;
  let failure: unknown;
  const timeline = new Timeline(config.durationMs / 1000);
  // Each node's own metrics listener: a standby's API would answer with the active node's.
  const sampler =
    config.timeline && spec
      ? new NodeSampler(
          cluster.nodes.flatMap((n) =>
            n.spec ? [{ name: n.name, address: nodeMetricsAddress(spec, n.spec) }] : [],
          ),
          { tls },
        )
      : undefined;
  let nodeSeconds: Record<string, NodeSecond[]> | undefined;
  progress.step(`seeding ${plan.paths.length} credentials under ${mount}/${plan.prefix}/`);
  try {
    await seedCredentials(seeder, mount, plan, created, signal);
    progress.step(
      `running: ${config.rate ? `${config.rate}/s fixed rate` : `${config.users} users, think ${config.as.think}`}${config.listRatio > 0 ? `, ${+(config.listRatio * 100).toFixed(1)} % lists` : ''}, ${config.as.duration} after ${config.as.warmup} warm-up`,
    );
    res = await runLoad(client, {
      users: config.users,
      thinkMinMs: config.thinkMinMs,
      thinkMaxMs: config.thinkMaxMs,
      readRatio: config.readRatio,
      listRatio: config.listRatio,
      listPrefixes: tenantListPrefixes(plan),
      durationMs: config.durationMs,
      warmupMs: config.warmupMs,
      rate: config.rate,
      paths: plan.paths,
      timeline,
      onStart: (measureFrom) => sampler?.start(measureFrom, Math.ceil(config.durationMs / 1000)),
      signal,
      onProgress: (p) =>
        progress.step(
          `running: ${(p.elapsedMs / 1000).toFixed(0)} s, ${p.ops} operations, ${p.errors} errors`,
        ),
    });
  } catch (err) {
    failure = err;
  } finally {
    nodeSeconds = await sampler?.stop(Boolean(failure) || Boolean(signal?.aborted));
  }

  let leftover: LeftoverError | undefined;
  if (created.size > 0) {
    progress.step('removing the seeded credentials');
    // Not cancellable: Ctrl-C is what it cleans up after. The second pass waits for a leader, as
    // after a failover during the run.
    const cleanup = await removeCredentials(
      async (pass) => {
        if (pass === 0) return seeder;
        const active = await cluster.waitFor('an active node', () => cluster.active(), {
          timeoutMs: CLEANUP_LEADER_WAIT_MS,
          doing: 'waiting for an active node to remove the benchmark credentials',
        });
        return active.api({ token });
      },
      mount,
      plan.paths.filter((p) => created.has(p)),
    );
    if (cleanup.left.length > 0)
      leftover = leftoverError(mount, plan, created.size, cleanup, {
        failure,
        cancelled: Boolean(signal?.aborted),
      });
  }
  if (leftover && !leftover.afterReport) throw leftover;
  if (failure) throw failure;
  throwIfAborted(signal, doing);
  const stats = client.stats();
  const withList = Boolean(config.listRatio);
  return {
    report: benchReport(config, res!, stats, lineUp(timeline.toSeconds(withList), nodeSeconds)),
    cacheHitRate: hitRate(stats),
    vaultBenchmark: vaultBenchmarkReport(res!, addresses[0] ?? '', withList),
    ...(leftover ? { leftover } : {}),
  };
}
