/**
 * The seal drill: the seed's "KMS unavailable" scenario under live writes. The seal backend (the
 * unsealer's transit, a KMS) goes away; one follower restarts, then every node: they cannot
 * unseal, `health` is down (exit 2) and names the seal backend; nothing acknowledged is lost. The
 * backend comes back: every node unseals itself, and the drill measures the time from "backend
 * back" to "healthy" and reads every acknowledged write back. The backend is always started
 * again before the drill returns, Ctrl-C included.
 */
import { randomUUID } from 'node:crypto';
import type { Progress } from '../cluster/events.js';
import type { RunningCluster } from '../cluster/running.js';
import { CancelledError, UsageError } from '../errors.js';
import type { ClusterHealth, HealthDeps } from '../health/health.js';
import { checkHealth, VERDICT_EXIT, waitForHealth } from '../health/health.js';
import { AUTO_SEALS } from '../spec/schema.js';
import type { DrillConfig } from './config.js';
import { readBack, removeKeys } from './keys.js';
import type { DrillNode } from './traffic.js';
import { now, sleep, Writer } from './traffic.js';

/**
 * The seal backend a cluster auto-unseals with, as the drill drives it: the unsealer's container
 * for transit, a local KMS server (moto) for awskms. `start` resolves once it serves again.
 */
export interface SealBackend {
  /** What it is, for the report: "transit (unsealer vctl-unsealer)". */
  readonly description: string;
  stop(): Promise<void>;
  start(): Promise<void>;
}

/** What the cluster looked like at one point of the outage. */
export interface SealOutageCheck {
  /** From the restart to the log naming the seal backend on every restarted node (null: never seen). */
  readonly causeSeenMs: number | null;
  readonly verdict: ClusterHealth['verdict'];
  readonly exitCode: number;
  readonly reasons: readonly string[];
  /** Nodes whose log names the seal backend as the reason they cannot unseal. */
  readonly sealBlocked: readonly string[];
  readonly unsealed: readonly string[];
}

export interface SealDrillReport {
  readonly id: string;
  readonly backend: string;
  /** After the backend went away and one follower restarted. */
  readonly oneRestarted: SealOutageCheck & { readonly node: string };
  /** After every node restarted with the backend still away. */
  readonly allRestarted: SealOutageCheck;
  /** Outage length: backend stopped to backend started again. */
  readonly outageMs: number;
  /** From "backend back" (its start returned) to a healthy cluster; null when it did not heal. */
  readonly recoveryMs: number | null;
  readonly healed: boolean;
  readonly writes: { readonly sent: number; readonly acked: number; readonly failed: number };
  readonly lostWrites: number;
  readonly lost: readonly number[];
  readonly ok: boolean;
  readonly checks: readonly { readonly name: string; readonly ok: boolean; readonly detail: string }[];
}

export interface SealDrillDeps {
  readonly cluster: RunningCluster;
  readonly backend: SealBackend;
  readonly progress: Progress;
  readonly signal?: AbortSignal | undefined;
}

function outageCheck(h: ClusterHealth, causeSeenMs: number | null): SealOutageCheck {
  return {
    causeSeenMs,
    verdict: h.verdict,
    exitCode: VERDICT_EXIT[h.verdict],
    reasons: h.reasons,
    sealBlocked: h.nodes.filter((n) => n.sealBackend).map((n) => n.name),
    unsealed: h.nodes.filter((n) => n.reachable && n.initialized && !n.sealed).map((n) => n.name),
  };
}

/** How long the drill waits for a restarted node's log to name the seal backend. */
const CAUSE_TIMEOUT_MS = 60_000;

/**
 * Holds the outage at least `holdMs` after `since`, and until the named nodes' logs say they
 * cannot reach the seal backend (their servers exit at start) or the cause timeout passed: the
 * server's transit client retries before it gives up. Returns the last health seen and when the
 * cause was first seen on every named node.
 */
async function holdOutage(
  targets: readonly { name: string; address: string }[],
  names: readonly string[],
  health: HealthDeps,
  since: number,
  holdMs: number,
  signal: AbortSignal | undefined,
): Promise<SealOutageCheck> {
  let seen: number | null = null;
  for (;;) {
    const h = await checkHealth(targets, targets.length, health);
    const blocked = new Set(h.nodes.filter((n) => n.sealBackend).map((n) => n.name));
    if (seen === null && names.every((n) => blocked.has(n))) seen = now() - since;
    const elapsed = now() - since;
    if ((seen !== null && elapsed >= holdMs) || elapsed >= CAUSE_TIMEOUT_MS || signal?.aborted)
      return outageCheck(h, seen);
    await sleep(500);
  }
}

/** Runs the seal drill on a healthy managed cluster with an auto-unseal seal. */
export async function runSealDrill(cfg: DrillConfig, deps: SealDrillDeps): Promise<SealDrillReport> {
  const { cluster, backend, progress, signal } = deps;
  const doing = 'running the seal drill';
  const spec = cluster.spec;
  if (!spec)
    throw new UsageError(doing, 'the drill needs the cluster vaultctl manages', 'name it with --cluster');
  if (!AUTO_SEALS.includes(spec.seal.type) || spec.seal.type === 'static')
    throw new UsageError(
      doing,
      `the cluster uses the ${spec.seal.type} seal: it has no seal backend to take away`,
      'run the seal drill on a transit (or awskms) sealed cluster: vaultctl up --seal transit',
    );
  const token = await cluster.token();
  if (!token) throw new UsageError(doing, 'no token', 'run `vaultctl init` first, or export BAO_TOKEN');
  const nodes: DrillNode[] = cluster.nodes.map((handle) => ({
    name: handle.name,
    handle,
    api: handle.api({ token, timeoutMs: 500 }),
  }));
  const targets = nodes.map((n) => ({ name: n.name, address: n.handle.address }));
  const health: HealthDeps = {
    connect: cluster.connector,
    token,
    tls: cluster.tls,
    timeoutMs: 2000,
    logsOf: (name) => cluster.node(name).logs(60),
  };
  // One look, no waiting: a drill on a cluster that is not healthy is refused (exit 1, as upgrade
  // refuses), at once; its faults would be measured against a cluster already broken.
  const first = await waitForHealth(targets, nodes.length, { ...health, waitMs: 0, signal });
  if (first.verdict !== 'healthy')
    throw new UsageError(
      doing,
      `the cluster is ${first.verdict}, not healthy: ${first.reasons.join('; ')}; nothing was done`,
      'the drill starts only on a healthy cluster: `vaultctl health` shows what is wrong',
    );
  const leaderName = first.nodes.find((n) => n.active)?.name;
  const leaderIdx = Math.max(
    0,
    nodes.findIndex((n) => n.name === leaderName),
  );
  const follower = nodes.find((n) => n.name !== leaderName)!;

  const id = randomUUID();
  const mount = spec.kv.path;
  const prefix = `vaultctl-drill/${id}/seal`;
  const writer = new Writer(nodes, mount, prefix, cfg, leaderIdx);
  const hold = Math.max(cfg.holdMs, 5_000);
  let stoppedAt: number | undefined;
  let startedAt: number | undefined;
  let oneRestarted: SealDrillReport['oneRestarted'] | undefined;
  let allRestarted: SealOutageCheck | undefined;
  let recoveryMs: number | null = null;
  let lost: number[] = [];
  const abortIf = () => {
    if (signal?.aborted) throw new CancelledError(doing);
  };
  writer.start();
  try {
    await sleep(cfg.warmupMs);
    abortIf();
    progress.step(`stopping the seal backend: ${backend.description}`);
    await backend.stop();
    stoppedAt = now();
    progress.step(`restarting ${follower.name} while the seal backend is away`);
    await follower.handle.restart(10);
    const oneAt = now();
    oneRestarted = {
      ...(await holdOutage(targets, [follower.name], health, oneAt, hold, signal)),
      node: follower.name,
    };
    abortIf();
    progress.step('restarting every node while the seal backend is away');
    await Promise.all(nodes.map((n) => n.handle.stop(10)));
    await Promise.all(nodes.map((n) => n.handle.start()));
    const allAt = now();
    allRestarted = await holdOutage(
      targets,
      nodes.map((n) => n.name),
      health,
      allAt,
      hold,
      signal,
    );
    abortIf();
  } finally {
    progress.step(`starting the seal backend again: ${backend.description}`);
    await backend.start();
    startedAt = now();
  }
  let healed = false;
  try {
    progress.step('waiting for every node to unseal itself');
    const h = await waitForHealth(targets, nodes.length, { ...health, waitMs: cfg.healTimeoutMs, signal });
    healed = h.verdict === 'healthy';
    if (healed) recoveryMs = now() - startedAt;
    await sleep(cfg.settleMs);
  } finally {
    await writer.stop();
  }
  const written = [
    `${prefix}/probe`,
    ...writer.writes.filter((w) => w.ackAt !== undefined).map((w) => `${prefix}/${w.seq}`),
  ];
  try {
    if (healed) lost = await readBack(cluster, nodes, mount, prefix, writer.writes, doing);
  } finally {
    await removeKeys(cluster, nodes, mount, written).catch(() => undefined);
  }
  const acked = writer.writes.filter((w) => w.ackAt !== undefined).length;
  const one = oneRestarted!;
  const all = allRestarted!;
  const checks = [
    {
      name: 'restarted follower stays sealed, cause named',
      ok: !one.unsealed.includes(one.node) && one.sealBlocked.includes(one.node),
      detail: `${one.node}: ${one.sealBlocked.includes(one.node) ? 'seal backend unreachable' : 'cause not found in its log'}; health ${one.verdict}`,
    },
    {
      name: 'all restarted: down (exit 2), seal backend named',
      ok: all.exitCode === 2 && all.sealBlocked.length === nodes.length && all.unsealed.length === 0,
      detail: `health ${all.verdict} (exit ${all.exitCode}); blocked: ${all.sealBlocked.join(', ') || 'none'}`,
    },
    {
      name: 'every node unseals itself when the backend is back',
      ok: healed,
      detail: healed ? `healthy ${((recoveryMs ?? 0) / 1000).toFixed(1)} s after` : 'not healthy in time',
    },
    {
      name: 'no acknowledged write lost',
      ok: healed && lost.length === 0,
      detail: `${lost.length} of ${acked} lost`,
    },
  ];
  return {
    id,
    backend: backend.description,
    oneRestarted: one,
    allRestarted: all,
    outageMs: (startedAt ?? now()) - (stoppedAt ?? now()),
    recoveryMs,
    healed,
    writes: { sent: writer.writes.length, acked, failed: writer.writes.length - acked },
    lostWrites: lost.length,
    lost,
    ok: checks.every((c) => c.ok),
    checks,
  };
}
