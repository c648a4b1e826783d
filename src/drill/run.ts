/**
 * The failover drill: numbered writes at a fixed rate and reads through every node, a fault on a
 * chosen node, then heal, rejoin, and a read-back of every acknowledged write, for each round
 * (round.ts); report.ts turns the timelines into figures and a verdict. The drill's keys are
 * removed afterwards, whatever happened.
 */
import { randomUUID } from 'node:crypto';
import type { Progress } from '../cluster/events.js';
import type { RunningCluster } from '../cluster/running.js';
import { CancelledError, RemoteError, UsageError } from '../errors.js';
import { waitForHealth } from '../health/health.js';
import type { DrillConfig } from './config.js';
import { validateDrillConfig } from './config.js';
import { removeKeys } from './keys.js';
import type { RoundReport } from './report.js';
import { runRound } from './round.js';
import type { DrillNode } from './traffic.js';

export interface DrillDeps {
  /** The managed cluster: the drill needs its containers. */
  readonly cluster: RunningCluster;
  readonly progress: Progress;
  readonly signal?: AbortSignal | undefined;
  /**
   * Key shares for a Shamir cluster, whose restarted nodes come back sealed (default: those the
   * cluster's state dir holds).
   */
  readonly unsealKeys?: (() => Promise<readonly string[]>) | undefined;
  readonly onRound?: (r: RoundReport) => void;
}

export interface DrillResult {
  readonly id: string;
  readonly rounds: RoundReport[];
  /** Drill keys left behind because deleting them failed (0 normally). */
  readonly keysLeft: number;
}

/** Runs `cfg.rounds` rounds of the failover drill on a healthy managed cluster. */
export async function runDrill(cfg: DrillConfig, deps: DrillDeps): Promise<DrillResult> {
  const { cluster, progress } = deps;
  const doing = 'running the failover drill';
  const spec = cluster.spec;
  if (!spec)
    throw new UsageError(
      doing,
      'the drill needs the cluster vaultctl manages, not nodes given by address',
      'name the cluster vaultctl brought up with --cluster',
    );
  validateDrillConfig(cfg, spec);
  const token = await cluster.token();
  if (!token) throw new UsageError(doing, 'no token', 'run `vaultctl init` first, or export BAO_TOKEN');
  const keys = cluster.state?.readInit()?.keys;
  const unsealKeys =
    deps.unsealKeys ?? (keys && keys.length > 0 ? async (): Promise<readonly string[]> => keys : undefined);

  // Short timeouts: the monitor, the writer and the readers measure the cluster, not a long wait.
  const nodes: DrillNode[] = cluster.nodes.map((handle) => ({
    name: handle.name,
    handle,
    api: handle.api({ token, timeoutMs: 500 }),
  }));
  const targets = nodes.map((n) => ({ name: n.name, address: n.handle.address }));
  const health = { connect: cluster.connector, token, tls: cluster.tls, timeoutMs: 2000 };
  const endpoint =
    cfg.viaEndpoint !== false && cluster.endpoint
      ? cluster.connect(cluster.endpoint.address, { token, timeoutMs: 500 })
      : undefined;
  const aborted = () => deps.signal?.aborted === true;

  const id = randomUUID();
  const base = `vaultctl-drill/${id}`;
  const mount = spec.kv.path;
  const canary = `${base}/canary`;
  const written: string[] = [];
  const rounds: RoundReport[] = [];

  // One look, no waiting: a drill on a cluster that is not healthy is refused (exit 1, as upgrade
  // refuses), at once; its faults would be measured against a cluster already broken.
  const first = await waitForHealth(targets, nodes.length, { ...health, waitMs: 0, signal: deps.signal });
  if (aborted()) throw new CancelledError(doing);
  if (first.verdict !== 'healthy')
    throw new UsageError(
      doing,
      `the cluster is ${first.verdict}, not healthy: ${first.reasons.join('; ')}; nothing was done`,
      'the drill starts only on a healthy cluster: `vaultctl health` shows what is wrong',
    );

  const active = first.nodes.find((n) => n.active);
  const leader = nodes.find((n) => n.name === active?.name) ?? nodes[0]!;
  try {
    await leader.api.call('POST', `/${mount}/data/${canary}`, 'writing the drill canary', {
      data: { canary: true },
    });
  } catch (err) {
    throw new RemoteError(doing, `writing the canary key failed: ${(err as Error).message}`, undefined, {
      cause: err,
    });
  }
  written.push(canary);

  let keysLeft = 0;
  try {
    for (let r = 1; r <= cfg.rounds; r++) {
      if (aborted()) throw new CancelledError(doing);
      const report = await runRound({
        round: r,
        cfg,
        cluster,
        nodes,
        health,
        progress,
        signal: deps.signal,
        unsealKeys,
        mount,
        prefix: `${base}/r${r}`,
        canary,
        written,
        endpoint,
      });
      rounds.push(report);
      deps.onRound?.(report);
    }
  } finally {
    progress.step('removing the drill keys');
    keysLeft = await removeKeys(cluster, nodes, mount, written);
    if (keysLeft > 0)
      progress.warn(
        `${keysLeft} drill keys under ${mount}/${base} could not be removed; delete them by hand`,
      );
    progress.done('drill keys removed');
  }
  return { id, rounds, keysLeft };
}
