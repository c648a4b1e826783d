/**
 * `upgradeCluster`: a rolling server upgrade under live writes. Preflight (preflight.ts), a
 * snapshot, then one step at a time (plan.ts): standbys recreated with the target image, the
 * leader stepped down to an upgraded node and recreated last. The drill's writer runs throughout;
 * every acknowledged write is read back at the end. A run stopped half-way (Ctrl-C, a node that
 * does not come back) leaves a serving cluster, and the same command run again finishes the job.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Progress } from '../cluster/events.js';
import { storedShares, waitNodeBack, waitSafeToStop } from '../cluster/rolling/node-back.js';
import { recreateNode } from '../cluster/rolling/recreate.js';
import { stepDown } from '../cluster/rolling/step-down.js';
import type { ManagedCluster, RunningCluster } from '../cluster/running.js';
import { DRILL_DEFAULTS, type DrillConfig } from '../drill/config.js';
import { readBack, removeKeys } from '../drill/keys.js';
import { type DrillNode, now, Writer } from '../drill/traffic.js';
import { CancelledError, errorMessage, RemoteError, VaultctlError } from '../errors.js';
import { waitForHealth } from '../health/health.js';
import type { ContainerRuntime } from '../runtime/port.js';
import { LABELS } from '../runtime/port.js';
import { saveSnapshot } from '../snapshot/save.js';
import { clusterLabels } from '../spec/names.js';
import { type NodeState, nextAction, planUpgrade, type UpgradeAction } from './plan.js';
import {
  type NodeFacts,
  type Preflight,
  preflight,
  requireHealthy,
  type UpgradeTarget,
} from './preflight.js';
import { howToGoOn, longestAckGap, type StepReport, type TrafficReport, trafficReport } from './report.js';

export interface UpgradeOptions {
  readonly dryRun?: boolean;
  /** Live writes during the upgrade (default on). */
  readonly traffic?: boolean;
  /** Where the snapshot goes; default <state dir>/snapshots. */
  readonly snapshotDir?: string | undefined;
  readonly nodeTimeoutMs?: number;
  /** Writes per second of the writer. */
  readonly rate?: number;
}

export interface UpgradeDeps {
  readonly cluster: ManagedCluster;
  readonly runtime: ContainerRuntime;
  readonly progress: Progress;
  readonly signal?: AbortSignal | undefined;
  /** Called after each applied step (tests abort a run here). */
  readonly onStep?: (step: StepReport) => void;
}

export type UpgradeOutcome = 'upgraded' | 'nothing-to-do' | 'planned';

export interface UpgradeResult {
  readonly cluster: string;
  readonly outcome: UpgradeOutcome;
  readonly dryRun: boolean;
  readonly target: { readonly image: string; readonly version: string; readonly versionSource: string };
  /** Each node before the run: its version, image and whether it already ran the target. */
  readonly before: readonly {
    name: string;
    version: string | null;
    image: string | null;
    upgraded: boolean;
  }[];
  readonly plan: readonly UpgradeAction[];
  readonly snapshot: string | null;
  readonly steps: readonly StepReport[];
  readonly traffic: TrafficReport | null;
  /** Each node's version after the run, as it reports it. */
  readonly after: readonly { name: string; version: string | null }[];
  readonly totalMs: number;
}

const DOING = 'upgrading the cluster';

/** Runs the upgrade (or, with dryRun, only its preflight and plan). */
export async function upgradeCluster(
  target: UpgradeTarget,
  deps: UpgradeDeps,
  opts: UpgradeOptions = {},
): Promise<UpgradeResult> {
  const startedAt = now();
  const pre = await preflight(target, deps);
  const states = (ns: readonly NodeFacts[]): NodeState[] =>
    ns.map((n) => ({ name: n.name, upgraded: n.upgraded, active: n.active }));
  const plan = planUpgrade(states(pre.nodes), pre.target.version);
  const base = {
    cluster: pre.spec.name,
    dryRun: opts.dryRun ?? false,
    target: { image: pre.target.image, version: pre.target.version, versionSource: pre.target.source },
    before: pre.nodes.map((n) => ({
      name: n.name,
      version: n.version ?? null,
      image: n.image ?? null,
      upgraded: n.upgraded,
    })),
    plan,
  };
  const sameVersion = pre.nodes.every((n) => n.version === pre.target.version);
  if (plan.length === 0 || (sameVersion && !pre.nodes.some((n) => n.upgraded))) {
    return {
      ...base,
      outcome: 'nothing-to-do',
      snapshot: null,
      steps: [],
      traffic: null,
      after: pre.nodes.map((n) => ({ name: n.name, version: n.version ?? null })),
      totalMs: Math.round(now() - startedAt),
    };
  }
  requireHealthy(pre.health);
  if (opts.dryRun)
    return {
      ...base,
      outcome: 'planned',
      snapshot: null,
      steps: [],
      traffic: null,
      after: [],
      totalMs: Math.round(now() - startedAt),
    };
  return applyUpgrade(pre, deps, opts, base, startedAt);
}

async function applyUpgrade(
  pre: Preflight,
  deps: UpgradeDeps,
  opts: UpgradeOptions,
  base: Omit<UpgradeResult, 'outcome' | 'snapshot' | 'steps' | 'traffic' | 'after' | 'totalMs'>,
  startedAt: number,
): Promise<UpgradeResult> {
  const { cluster, progress, signal } = deps;
  const steps: StepReport[] = [];
  const version = pre.target.version;

  // The snapshot first: whatever happens next, the data as it was can be restored.
  const snapStart = now();
  const serving = await cluster.servingNode('saving the snapshot before the upgrade', pre.token);
  const dir = opts.snapshotDir ?? join(pre.state.root, 'snapshots');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const meta = await saveSnapshot(
    pre.spec,
    pre.state,
    { api: serving.api, token: pre.token, tls: cluster.tls, progress, signal },
    { dir },
  );
  const snapshot = join(dir, meta.file);
  steps.push({
    action: 'snapshot',
    node: serving.node.name,
    reason: 'before any node is touched',
    detail: snapshot,
    ms: Math.round(now() - snapStart),
    longestAckGapMs: null,
  });

  const writer = opts.traffic === false ? undefined : startWriter(pre, cluster, opts.rate);
  const nodeTimeoutMs = opts.nodeTimeoutMs ?? 120_000;
  // The state dir remembers the target once the first node is healthy on it: from then on a later
  // `up` must not take an upgraded node back to the old image, and before it, an image that does
  // not serve must not become what `up` creates (issue 26: `up` then recreated every node with it).
  // The node configs are written now (the recreated node reads its own); `up` writes them back
  // from the saved spec, so they change nothing it creates.
  pre.state.writeRendered(pre.rendered);
  let saved = savedTarget(pre);
  const remember = () => {
    if (saved) return;
    pre.state.saveSpec(pre.targetSpec);
    saved = true;
  };

  let failure: unknown;
  let touching: string | undefined;
  let stepDowns = 0;
  try {
    for (;;) {
      if (signal?.aborted) throw new CancelledError(DOING);
      const nodes = await observe(pre, deps);
      const action = nextAction(nodes, version);
      if (action.kind === 'done') break;
      const handle = cluster.node(action.node);
      const t0 = now();
      let detail: string;
      if (action.kind === 'recreate') {
        const target = pre.nodes.find((n) => n.name === action.node)!.target;
        await waitSafeToStop(cluster, {
          timeoutMs: nodeTimeoutMs,
          signal,
          hint: 'no node was stopped in this step; `vaultctl health` shows what is wrong; rerun the upgrade once it is healthy',
        });
        progress.step(`${action.node}: recreating with ${target.image}`);
        touching = action.node;
        await recreateNode(cluster, handle, pre.rendered, {
          progress,
          doing: `recreating ${handle.name} with ${target.image}`,
          // Replaced by the stop's hint (withHint): only it knows what the state dir has saved.
          hint: 'the other nodes keep serving',
        });
        progress.step(`${action.node}: waiting until unsealed, caught up and a healthy voter`);
        await waitNodeBack(cluster, handle, {
          timeoutMs: nodeTimeoutMs,
          signal,
          version,
          shares: storedShares(pre.state),
          doing: `waiting for ${handle.name} to come back`,
          hint: `\`docker logs ${handle.container}\` says why; the other nodes keep serving. Rerun the upgrade to go on once it is back, or roll it back (see the upgrade section of the README)`,
        });
        touching = undefined;
        remember();
        detail = target.image;
      } else {
        if (++stepDowns > pre.nodes.length)
          throw new RemoteError(DOING, 'the leader kept changing', '`vaultctl health`; rerun the upgrade');
        progress.step(`${action.node}: stepping down`);
        const next = await stepDown(cluster, handle, {
          progress,
          signal,
          hint: `the upgraded nodes may not be healthy voters: \`vaultctl health\`; ${handle.name} was not touched, rerun the upgrade`,
        });
        detail = `new leader ${next.name}`;
      }
      const step: StepReport = {
        action: action.kind,
        node: action.node,
        reason: action.reason,
        detail,
        ms: Math.round(now() - t0),
        longestAckGapMs: writer ? longestAckGap(writer.writer.writes, t0, now()) : null,
      };
      steps.push(step);
      progress.done(
        `${action.node}: ${action.kind === 'recreate' ? `runs ${version}` : detail} (${(step.ms / 1000).toFixed(1)} s)`,
      );
      deps.onStep?.(step);
    }
  } catch (err) {
    failure = err;
  }

  const endAt = now();
  // After a failure the read-back may fail too: the first failure is the one to report.
  const traffic = writer
    ? await finishWriter(writer, cluster, progress, endAt).catch((err: unknown) => {
        if (!failure) throw err;
        return null;
      })
    : null;
  if (failure) {
    if (traffic)
      progress.warn(
        `writes until the stop: ${traffic.sent} sent, ${traffic.acked} acknowledged, ${traffic.failed} failed, ${traffic.lost} lost; longest gap ${((traffic.longestAckGapMs ?? 0) / 1000).toFixed(2)} s`,
      );
    const next = howToGoOn({
      cancelled: failure instanceof CancelledError,
      targetImage: pre.target.image,
      targetVersion: version,
      nodes: pre.nodes.map((n) => ({ name: n.name, container: n.target.name, onTarget: n.upgraded })),
      done: steps.filter((s) => s.action === 'recreate').map((s) => s.node ?? ''),
      touching,
      saved,
      snapshot,
    });
    progress.warn(next.state);
    throw withHint(failure, next.hint);
  }
  progress.step('waiting for a healthy cluster');
  const targets = cluster.nodes.map((n) => ({ name: n.name, address: n.address }));
  const health = await waitForHealth(targets, cluster.expectedVoters, {
    connect: cluster.connector,
    token: pre.token,
    tls: cluster.tls,
    waitMs: 60_000,
    signal,
    ...(cluster.endpoint ? { endpoint: cluster.endpoint.address } : {}),
  });
  if (health.verdict !== 'healthy')
    throw new RemoteError(
      'checking the cluster after the upgrade',
      `every node was recreated, but the cluster is ${health.verdict}: ${health.reasons.join('; ')}`,
      '`vaultctl health` shows every node',
    );
  return {
    ...base,
    outcome: 'upgraded',
    snapshot,
    steps,
    traffic,
    after: health.nodes.map((n) => ({ name: n.name, version: n.version ?? null })),
    totalMs: Math.round(now() - startedAt),
  };
}

/** Each node now: is its container the target one, is it active. */
async function observe(pre: Preflight, deps: UpgradeDeps): Promise<NodeState[]> {
  const [containers, active] = await Promise.all([
    deps.runtime.listContainers(clusterLabels(pre.spec)),
    deps.cluster.active({ timeoutMs: 2000 }),
  ]);
  return pre.nodes.map((n) => {
    const c = containers.find((x) => x.name === n.target.name);
    return {
      name: n.name,
      upgraded: c?.labels[LABELS.configHash] === n.target.labels[LABELS.configHash] && c?.state === 'running',
      active: active?.name === n.name,
    };
  });
}

interface RunningWriter {
  readonly writer: Writer;
  readonly nodes: DrillNode[];
  readonly mount: string;
  readonly prefix: string;
}

function startWriter(pre: Preflight, cluster: RunningCluster, rate?: number): RunningWriter {
  const cfg: DrillConfig = {
    ...DRILL_DEFAULTS,
    ...(rate ? { rate } : {}),
    fault: 'stop',
    target: 'leader',
  };
  const nodes: DrillNode[] = cluster.nodes.map((handle) => ({
    name: handle.name,
    handle,
    api: handle.api({ token: pre.token, timeoutMs: 500 }),
  }));
  const mount = pre.spec.kv.path;
  const prefix = `vaultctl-upgrade/${new Date().toISOString().replace(/[:.]/g, '-')}`;
  const preferred = Math.max(
    0,
    pre.nodes.findIndex((n) => n.active),
  );
  const writer = new Writer(nodes, mount, prefix, cfg, preferred);
  writer.start();
  return { writer, nodes, mount, prefix };
}

/** Stops the writer, reads every acknowledged write back and removes the keys. */
async function finishWriter(
  w: RunningWriter,
  cluster: RunningCluster,
  progress: Progress,
  endAt: number,
): Promise<TrafficReport> {
  await w.writer.stop();
  progress.step('reading every acknowledged write back');
  let lost: number[] = [];
  try {
    lost = await readBack(
      cluster,
      w.nodes,
      w.mount,
      w.prefix,
      w.writer.writes,
      'reading the upgrade writes back',
    );
  } catch (err) {
    progress.warn(`the writes could not be read back: ${errorMessage(err)}`);
    throw err;
  }
  const keys = [
    ...w.writer.writes.filter((x) => x.ackAt !== undefined).map((x) => `${w.prefix}/${x.seq}`),
    `${w.prefix}/probe`,
  ];
  const left = await removeKeys(cluster, w.nodes, w.mount, keys);
  if (left > 0) progress.warn(`${left} upgrade write keys under ${w.mount}/${w.prefix} could not be removed`);
  return trafficReport(w.writer.writes, endAt, lost);
}

/** True when the state dir already names the target (a run before this one got a node healthy on it). */
function savedTarget(pre: Preflight): boolean {
  return pre.spec.image === pre.targetSpec.image;
}

/** The failure with the stop's hint: a hint from deeper down (node.ts) cannot know what is saved. */
function withHint(err: unknown, hint: string): unknown {
  if (err instanceof VaultctlError) Object.defineProperty(err, 'hint', { value: hint });
  return err;
}
