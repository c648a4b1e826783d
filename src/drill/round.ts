/**
 * One round of the failover drill: traffic on a healthy cluster, the fault, its heal, the wait for
 * the faulted nodes to catch up and for a healthy cluster, and the read-back of every
 * acknowledged write. Whatever happens (an error, Ctrl-C), an injected fault is healed before the
 * round returns.
 */
import { unsealCluster } from '../bootstrap/unseal.js';
import type { Progress } from '../cluster/events.js';
import type { RunningCluster } from '../cluster/running.js';
import { CancelledError, RemoteError } from '../errors.js';
import { type HealthDeps, waitCaughtUp, waitForHealth } from '../health/health.js';
import type { PartitionMethod } from '../runtime/port.js';
import type { VaultNode } from '../vault/port.js';
import type { DrillConfig } from './config.js';
import { makeFault } from './faults.js';
import { readBack } from './keys.js';
import type { EndpointRound, RoundReport, RoundTimeline } from './report.js';
import { analyzeRound } from './report.js';
import { type DrillNode, now, Readers, RoleMonitor, sleep, Writer } from './traffic.js';

/** What a round needs: the drill's configuration, cluster, clients and keys. */
export interface RoundContext {
  readonly round: number;
  readonly cfg: DrillConfig;
  readonly cluster: RunningCluster;
  /** The cluster's nodes with the traffic's short-timeout clients. */
  readonly nodes: readonly DrillNode[];
  /** For the health checks (the cluster's connector, token and TLS). */
  readonly health: HealthDeps;
  readonly progress: Progress;
  readonly signal?: AbortSignal | undefined;
  /** Key shares for a Shamir cluster, whose restarted nodes come back sealed. */
  readonly unsealKeys?: (() => Promise<readonly string[]>) | undefined;
  readonly mount: string;
  /** The round's keys live under this path. */
  readonly prefix: string;
  /** The key the readers read. */
  readonly canary: string;
  /** Every key the round wrote is added here, to be removed after the drill. */
  readonly written: string[];
  /**
   * The active-node endpoint's client: a second writer sends the same writes through it, as an
   * application that knows one address does.
   */
  readonly endpoint?: VaultNode | undefined;
}

/** Runs one round on a healthy cluster and returns its figures (report.ts). */
export async function runRound(ctx: RoundContext): Promise<RoundReport> {
  const { round, cfg, cluster, nodes, progress, signal, mount, prefix } = ctx;
  const doing = `running round ${round} of the failover drill`;
  const label = `round ${round}/${cfg.rounds}`;
  const targets = nodes.map((n) => ({ name: n.name, address: n.handle.address }));

  progress.step(`${label}: waiting for a healthy cluster`);
  const before = await waitForHealth(targets, nodes.length, {
    ...ctx.health,
    waitMs: cfg.healTimeoutMs,
    signal,
  });
  if (signal?.aborted) throw new CancelledError(doing);
  if (before.verdict !== 'healthy')
    throw new RemoteError(
      doing,
      `the cluster is not healthy before the round: ${before.reasons.join('; ')}`,
      '`vaultctl health` shows what is wrong',
    );
  const leaderIdx = nodes.findIndex((n) => n.name === before.nodes.find((x) => x.active)?.name);
  if (leaderIdx < 0) throw new RemoteError(doing, 'no active node', '`vaultctl health`');
  const leader = nodes[leaderIdx]!;
  const victims =
    cfg.target === 'leader'
      ? [leader]
      : cfg.target === 'follower'
        ? [nodes.find((n) => n !== leader)!]
        : [...nodes];
  const fault = makeFault(
    cfg.fault,
    victims.map((v) => v.handle),
    nodes.map((n) => n.handle),
    {
      partitionMethod: cfg.partitionMethod,
      progress,
      stepDown: async (h) => {
        await h.api({ token: ctx.health.token, timeoutMs: 5000 }).write('sys/step-down', {}, 'stepping down');
      },
    },
  );

  const monitor = new RoleMonitor(nodes);
  const writer = new Writer(nodes, mount, prefix, cfg, leaderIdx);
  const readers = new Readers(nodes, mount, ctx.canary, cfg);
  const endpointPrefix = `${prefix}-endpoint`;
  const viaEndpoint = ctx.endpoint
    ? new Writer([{ name: 'endpoint', api: ctx.endpoint }], mount, endpointPrefix, cfg, 0)
    : undefined;
  const t: RoundTimeline = {
    round,
    fault: cfg.fault,
    target: cfg.target,
    victims: victims.map((v) => v.name),
    leaderBefore: leader.name,
    startAt: now(),
    faultAt: 0,
    healAt: 0,
    endAt: 0,
    writes: writer.writes,
    reads: readers.reads,
    roles: monitor.samples,
    lost: [],
  };
  let injected = false;
  let healed = false;
  const heal = () => {
    healed = true;
    return fault.heal();
  };
  const restarts = cfg.fault === 'kill' || cfg.fault === 'stop';

  monitor.start();
  readers.start();
  writer.start();
  viaEndpoint?.start();
  try {
    await sleep(cfg.warmupMs);
    if (signal?.aborted) throw new CancelledError(doing);
    const names = victims.map((v) => v.name).join(', ');
    progress.step(`${label}: ${cfg.fault} ${names} (${cfg.target}), ${cfg.rate} writes/s`);
    injected = true;
    // A graceful stop's time is when it begins: the timeline has it even if the stop fails.
    if (cfg.fault === 'stop') t.faultAt = now();
    t.faultAt = await fault.inject();
    if (fault.method) (t as { partitionMethod?: PartitionMethod }).partitionMethod = fault.method;
    const holdLeft = cfg.holdMs - (now() - t.faultAt);
    if (holdLeft > 0) await abortableSleep(holdLeft, signal);

    // The leader's applied index when the fault ends: the faulted nodes must reach it. A short
    // timeout: a frozen or cut-off node must not delay the heal.
    const active = await cluster.active({ timeoutMs: 500 }).catch(() => undefined);
    const leaderNow = nodes.find((n) => n.name === active?.name);
    const mark = leaderNow ? await leaderNow.api.leader().catch(() => undefined) : undefined;
    progress.step(`${label}: healing ${names}`);
    t.healAt = now();
    await heal();
    if (restarts) await unsealIfNeeded(ctx, victims);

    const caughtUp = await waitCaughtUp(
      nodes.map((n) => n.api),
      victims.map((v) => v.api),
      { mark: mark?.raft_applied_index, timeoutMs: cfg.healTimeoutMs, signal },
    );
    if (caughtUp.at !== undefined) t.rejoinedAt = caughtUp.at;
    else progress.warn(`${label}: not caught up in time: ${caughtUp.behind.join(', ')}`);
    progress.step(`${label}: waiting for a healthy cluster`);
    const after = await waitForHealth(targets, nodes.length, {
      ...ctx.health,
      waitMs: Math.max(1000, cfg.healTimeoutMs - (now() - t.healAt)),
      signal,
    });
    if (signal?.aborted) throw new CancelledError(doing);
    if (after.verdict === 'healthy') t.healthyAt = now();
    t.leaderAfter = after.nodes.find((n) => n.active)?.name;
    await sleep(cfg.settleMs);
  } finally {
    t.endAt = now();
    await Promise.all([monitor.stop(), readers.stop(), writer.stop(), viaEndpoint?.stop()]);
    for (const w of writer.writes) ctx.written.push(`${prefix}/${w.seq}`);
    ctx.written.push(`${prefix}/probe`);
    if (viaEndpoint) {
      for (const w of viaEndpoint.writes) ctx.written.push(`${endpointPrefix}/${w.seq}`);
      ctx.written.push(`${endpointPrefix}/probe`);
    }
    if (injected && !healed) {
      progress.warn(`healing ${victims.map((v) => v.name).join(', ')} before stopping`);
      await heal().catch((err) => progress.warn(`healing failed: ${(err as Error).message}`));
      if (restarts) await unsealIfNeeded(ctx, victims).catch(() => undefined);
    }
  }

  progress.step(
    `${label}: reading back ${writer.writes.filter((w) => w.ackAt !== undefined).length} acknowledged writes`,
  );
  t.lost = await readBack(cluster, nodes, mount, prefix, writer.writes, doing);
  const report: RoundReport = {
    ...analyzeRound(t),
    endpoint: viaEndpoint
      ? endpointFigures(
          analyzeRound({
            ...t,
            writes: viaEndpoint.writes,
            lost: await readBack(cluster, nodes, mount, endpointPrefix, viaEndpoint.writes, doing),
          }),
        )
      : null,
  };
  progress.done(
    `${label}: RTO ${report.rtoMs === null ? '-' : `${(report.rtoMs / 1000).toFixed(2)} s`}, ` +
      `${report.writes.failed} writes failed, ${report.lostWrites} lost, ` +
      `${report.healed ? `healed in ${((report.healMs ?? 0) / 1000).toFixed(1)} s` : 'NOT healed'}`,
  );
  return report;
}

/** What a single-address client saw through the endpoint, from the same analysis as the nodes' writer. */
function endpointFigures(r: RoundReport): EndpointRound {
  return {
    writeUnavailableMs: r.writeUnavailableMs,
    longestAckGapMs: r.longestAckGapMs,
    rtoMs: r.rtoMs,
    writes: r.writes,
    lostWrites: r.lostWrites,
    lostSamples: r.lostSamples,
  };
}

function abortableSleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** A Shamir cluster's restarted nodes come back sealed: unseal them once they answer. */
async function unsealIfNeeded(ctx: RoundContext, victims: readonly DrillNode[]): Promise<void> {
  const { cluster, unsealKeys, signal } = ctx;
  if (cluster.spec?.seal.type !== 'shamir' || !unsealKeys) return;
  for (const v of victims) {
    await cluster.waitFor(`${v.name} to answer`, () => v.api.sealStatus().then(() => true), {
      timeoutMs: ctx.cfg.healTimeoutMs,
      intervalMs: 200,
      signal,
      node: v.handle,
    });
  }
  await unsealCluster(
    victims.map((v) => v.handle),
    { progress: ctx.progress, keys: unsealKeys, connect: cluster.connector, tls: cluster.tls, signal },
  );
}
