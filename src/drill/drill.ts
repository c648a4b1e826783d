/**
 * The failover drill: numbered writes at a fixed rate and reads through every node, a fault on a
 * chosen node, then heal, rejoin, and a read-back of every acknowledged write. Records timelines;
 * drill-report.ts turns them into figures and a verdict.
 *
 * Whatever happens (an error, Ctrl-C), a fault that was injected is healed before the drill returns.
 */
import { randomUUID } from 'node:crypto';
import { unsealCluster } from '../bootstrap/unseal.js';
import type { Progress } from '../cluster/events.js';
import { pollUntil } from '../cluster/poll.js';
import { CancelledError, RemoteError, UsageError } from '../errors.js';
import type { HealthTarget } from '../health/health.js';
import { checkHealth, type HealthDeps, waitCaughtUp, waitForHealth } from '../health/health.js';
import type { ContainerRuntime, PartitionMethod } from '../runtime/port.js';
import { containerName, networkName, nodeAddress } from '../spec/names.js';
import type { ClusterSpec } from '../spec/schema.js';
import type { VaultConnector, VaultNode, VaultTls } from '../vault/port.js';
import { VaultRequestError } from '../vault/port.js';
import type {
  FaultKind,
  FaultTarget,
  NodeRole,
  ReadRecord,
  RoleSample,
  RoundReport,
  RoundTimeline,
  WriteRecord,
} from './report.js';
import { analyzeRound } from './report.js';

export interface DrillConfig {
  readonly fault: FaultKind;
  readonly target: FaultTarget;
  /** Writes per second (open loop: a slow write does not delay the next). */
  readonly rate: number;
  /** Reads per second through each node. */
  readonly readRate: number;
  /** How long the fault lasts before it is healed. */
  readonly holdMs: number;
  readonly rounds: number;
  /** Traffic before the fault. */
  readonly warmupMs: number;
  /** Traffic after the cluster is healthy again. */
  readonly settleMs: number;
  /** Longest wait for the cluster to heal (and to be healthy before a round). */
  readonly healTimeoutMs: number;
  /** One request to one node; then the writer tries the next node. */
  readonly attemptTimeoutMs: number;
  /** A write not acknowledged by then counts as failed. */
  readonly writeDeadlineMs: number;
  readonly partitionMethod?: PartitionMethod | undefined;
}

export const DRILL_DEFAULTS = {
  rate: 20,
  readRate: 5,
  holdMs: 10_000,
  rounds: 1,
  warmupMs: 2_000,
  settleMs: 1_000,
  healTimeoutMs: 90_000,
  attemptTimeoutMs: 1_000,
  writeDeadlineMs: 10_000,
} as const;

export interface DrillDeps {
  readonly spec: ClusterSpec;
  readonly runtime: ContainerRuntime;
  readonly token: string;
  readonly tls?: VaultTls | undefined;
  /** Makes the API clients (the cluster's connector). */
  readonly connect: VaultConnector;
  readonly progress: Progress;
  readonly signal?: AbortSignal | undefined;
  /** Key shares for a Shamir cluster, whose restarted nodes come back sealed. */
  readonly unsealKeys?: (() => Promise<readonly string[]>) | undefined;
  readonly onRound?: (r: RoundReport) => void;
}

export interface DrillResult {
  readonly id: string;
  readonly rounds: RoundReport[];
  /** Drill keys left behind because deleting them failed (0 normally). */
  readonly keysLeft: number;
}

interface DrillNode {
  readonly name: string;
  readonly container: string;
  readonly address: string;
  /** Short timeouts: the monitor, the writer and the readers. */
  readonly api: VaultNode;
}

const now = () => performance.now();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function validateDrillConfig(cfg: DrillConfig, spec: ClusterSpec): void {
  const doing = 'preparing the failover drill';
  if (cfg.target === 'all' && cfg.fault === 'partition')
    throw new UsageError(
      doing,
      'a partition of every node from every other is not a drill vaultctl runs',
      'partition the leader or a follower; --target all works with kill, stop and pause',
    );
  if (cfg.target === 'all' && spec.seal.type === 'shamir')
    throw new UsageError(
      doing,
      '--target all restarts every node, and this cluster uses Shamir shares: nothing would unseal it alone',
      'the drill for `all` proves auto-unseal; run it on a static, awskms or transit sealed cluster',
    );
}

/** Samples every node's role every `intervalMs` until stopped. */
class RoleMonitor {
  readonly samples: RoleSample[] = [];
  private stopped = false;
  private loops: Promise<void>[] = [];

  constructor(
    private readonly nodes: readonly DrillNode[],
    private readonly intervalMs = 100,
  ) {}

  start(): void {
    this.loops = this.nodes.map(async (n) => {
      while (!this.stopped) {
        const sentAt = now();
        let role: NodeRole;
        try {
          const h = await n.api.health();
          role = !h.initialized || h.sealed ? 'sealed' : h.standby ? 'standby' : 'active';
        } catch {
          role = 'down';
        }
        this.samples.push({ node: n.name, sentAt, role });
        const wait = this.intervalMs - (now() - sentAt);
        if (wait > 0) await sleep(wait);
      }
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.loops);
  }
}

/**
 * Numbered writes at a fixed rate, as a careful application client sends them: each goes to the
 * node that answered last, then once to each other node. When every node failed, the client stops
 * sending and waits behind one gate, while probes try every node every 100 ms (at most one in
 * flight per node); the first probe that is acknowledged opens the gate. Without the gate,
 * hundreds of retrying writes would flood a cluster that is electing a leader, and the drill would
 * measure its own load.
 */
class Writer {
  readonly writes: WriteRecord[] = [];
  private preferred: number;
  private stopped = false;
  private loop: Promise<void> = Promise.resolve();
  private readonly inflight = new Set<Promise<void>>();
  private gate: Promise<void> | undefined;
  private probing: Promise<void> = Promise.resolve();

  constructor(
    private readonly nodes: readonly DrillNode[],
    private readonly mount: string,
    private readonly prefix: string,
    private readonly cfg: DrillConfig,
    preferred: number,
  ) {
    this.preferred = preferred;
  }

  start(): void {
    const interval = 1000 / this.cfg.rate;
    const t0 = now();
    this.loop = (async () => {
      for (let seq = 0; !this.stopped; seq++) {
        const due = t0 + seq * interval;
        const wait = due - now();
        if (wait > 0) await sleep(wait);
        if (this.stopped) break;
        const rec: WriteRecord = { seq, issuedAt: now(), attempts: 0 };
        this.writes.push(rec);
        const p = this.write(rec).finally(() => this.inflight.delete(p));
        this.inflight.add(p);
      }
    })();
  }

  private attempt(
    idx: number,
    path: string,
    data: Record<string, unknown>,
    deadline: number,
  ): Promise<unknown> {
    return this.nodes[idx]!.api.call(
      'POST',
      `/${this.mount}/data/${path}`,
      'writing a drill key',
      { data },
      Math.min(this.cfg.attemptTimeoutMs, Math.max(1, deadline - now())),
    );
  }

  private async write(rec: WriteRecord): Promise<void> {
    const n = this.nodes.length;
    const deadline = rec.issuedAt + this.cfg.writeDeadlineMs;
    while (now() < deadline) {
      if (this.gate) {
        await Promise.race([this.gate, sleep(Math.max(0, deadline - now()))]);
        if (this.stopped) return; // the round is over while no node took writes: this one failed
        continue;
      }
      const first = this.preferred;
      for (let k = 0; k < n && now() < deadline; k++) {
        const idx = (first + k) % n;
        rec.attempts++;
        try {
          await this.attempt(idx, `${this.prefix}/${rec.seq}`, { seq: rec.seq }, deadline);
          rec.ackAt = now();
          rec.node = this.nodes[idx]!.name;
          this.preferred = idx;
          return;
        } catch {
          if (this.preferred === idx) this.preferred = (idx + 1) % n;
        }
      }
      this.closeGate();
    }
  }

  /** Every node failed: hold the writes until a probe write is acknowledged (or the writer stops). */
  private closeGate(): void {
    if (this.gate) return;
    let resolveOpen!: () => void;
    this.gate = new Promise<void>((r) => {
      resolveOpen = r;
    });
    const gate = this.gate;
    let opened = false;
    const open = () => {
      if (opened) return;
      opened = true;
      if (this.gate === gate) this.gate = undefined;
      resolveOpen();
    };
    this.probing = (async () => {
      const probes: Promise<void>[] = [];
      // Every 100 ms, one probe to each node that has none in flight (a frozen node holds one
      // probe until it times out instead of collecting ten).
      const busy = new Set<number>();
      while (!opened && !this.stopped) {
        for (let idx = 0; idx < this.nodes.length; idx++) {
          if (busy.has(idx)) continue;
          busy.add(idx);
          probes.push(
            this.attempt(
              idx,
              `${this.prefix}/probe`,
              { probe: true },
              now() + this.cfg.attemptTimeoutMs,
            ).then(
              () => {
                if (!opened) this.preferred = idx;
                open();
              },
              () => {
                busy.delete(idx);
              },
            ),
          );
        }
        await Promise.race([gate, sleep(100)]);
      }
      open();
      await Promise.all(probes);
    })();
  }

  /** Stops issuing writes and waits for those in flight (each ends by its deadline, or at once behind a closed gate). */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
    await Promise.all([...this.inflight]);
    await this.probing;
  }
}

/** Reads a canary key through every node at a fixed rate. */
class Readers {
  readonly reads: ReadRecord[] = [];
  private stopped = false;
  private loops: Promise<void>[] = [];

  constructor(
    private readonly nodes: readonly DrillNode[],
    private readonly mount: string,
    private readonly key: string,
    private readonly cfg: DrillConfig,
  ) {}

  start(): void {
    if (this.cfg.readRate <= 0) return;
    const interval = 1000 / this.cfg.readRate;
    this.loops = this.nodes.map(async (n) => {
      while (!this.stopped) {
        const at = now();
        let ok = true;
        try {
          await n.api.call(
            'GET',
            `/${this.mount}/data/${this.key}`,
            'reading the drill canary',
            undefined,
            this.cfg.attemptTimeoutMs,
          );
        } catch {
          ok = false;
        }
        this.reads.push({ node: n.name, at, ok });
        const wait = interval - (now() - at);
        if (wait > 0) await sleep(wait);
      }
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.loops);
  }
}

async function inBatches<T>(
  items: readonly T[],
  size: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(fn));
}

export async function runDrill(cfg: DrillConfig, deps: DrillDeps): Promise<DrillResult> {
  const { spec, progress } = deps;
  validateDrillConfig(cfg, spec);
  const doing = 'running the failover drill';
  const nodes: DrillNode[] = spec.nodes.map((n) => ({
    name: n.name,
    container: containerName(spec, n),
    address: nodeAddress(spec, n),
    api: deps.connect({
      address: nodeAddress(spec, n),
      token: deps.token,
      tls: deps.tls,
      timeoutMs: 500,
    }),
  }));
  const targets: HealthTarget[] = nodes.map((n) => ({ name: n.name, address: n.address }));
  const healthDeps = { connect: deps.connect, token: deps.token, tls: deps.tls, timeoutMs: 2000 };
  const aborted = () => deps.signal?.aborted === true;

  const id = randomUUID();
  const base = `vaultctl-drill/${id}`;
  const mount = spec.kv.path;
  const canary = `${base}/canary`;
  const written: string[] = [];
  const rounds: RoundReport[] = [];

  const first = await waitForHealth(targets, nodes.length, {
    ...healthDeps,
    waitMs: 10_000,
    signal: deps.signal,
  });
  if (aborted()) throw new CancelledError(doing);
  if (first.verdict !== 'healthy')
    throw new RemoteError(
      doing,
      `the cluster is not healthy: ${first.reasons.join('; ')}`,
      'the drill starts only on a healthy cluster: `vaultctl health` shows what is wrong',
    );

  const leaderApi = () => {
    const active = first.nodes.find((n) => n.active);
    return nodes.find((n) => n.name === active?.name) ?? nodes[0]!;
  };
  try {
    await leaderApi().api.call('POST', `/${mount}/data/${canary}`, 'writing the drill canary', {
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
      const report = await runRound(
        r,
        cfg,
        deps,
        nodes,
        targets,
        healthDeps,
        mount,
        `${base}/r${r}`,
        canary,
        written,
      );
      rounds.push(report);
      deps.onRound?.(report);
    }
  } finally {
    progress.step('removing the drill keys');
    keysLeft = await removeKeys(nodes, targets, healthDeps, mount, written);
    if (keysLeft > 0)
      progress.warn(
        `${keysLeft} drill keys under ${mount}/${base} could not be removed; delete them by hand`,
      );
    progress.done('drill keys removed');
  }
  return { id, rounds, keysLeft };
}

async function activeNode(
  nodes: readonly DrillNode[],
  targets: readonly HealthTarget[],
  healthDeps: HealthDeps,
): Promise<DrillNode | undefined> {
  const h = await checkHealth(targets, nodes.length, healthDeps);
  const a = h.nodes.find((n) => n.active);
  return nodes.find((n) => n.name === a?.name);
}

async function removeKeys(
  nodes: readonly DrillNode[],
  targets: readonly HealthTarget[],
  healthDeps: HealthDeps,
  mount: string,
  keys: readonly string[],
): Promise<number> {
  const leader = await activeNode(nodes, targets, healthDeps).catch(() => undefined);
  if (!leader) return keys.length;
  let left = 0;
  await inBatches(keys, 16, async (k) => {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await leader.api.call('DELETE', `/${mount}/metadata/${k}`, 'removing a drill key', undefined, 5000);
        return;
      } catch (err) {
        if (err instanceof VaultRequestError && err.status === 404) return;
      }
    }
    left++;
  });
  return left;
}

async function runRound(
  round: number,
  cfg: DrillConfig,
  deps: DrillDeps,
  nodes: readonly DrillNode[],
  targets: readonly HealthTarget[],
  healthDeps: HealthDeps,
  mount: string,
  prefix: string,
  canary: string,
  written: string[],
): Promise<RoundReport> {
  const { runtime, progress, spec } = deps;
  const doing = `running round ${round} of the failover drill`;
  const label = `round ${round}/${cfg.rounds}`;

  progress.step(`${label}: waiting for a healthy cluster`);
  const before = await waitForHealth(targets, nodes.length, {
    ...healthDeps,
    waitMs: cfg.healTimeoutMs,
    signal: deps.signal,
  });
  if (deps.signal?.aborted) throw new CancelledError(doing);
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

  const monitor = new RoleMonitor(nodes);
  const writer = new Writer(nodes, mount, prefix, cfg, leaderIdx);
  const readers = new Readers(nodes, mount, canary, cfg);
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
  let method: PartitionMethod | undefined;
  const peersOf = (v: DrillNode) => nodes.filter((n) => n !== v).map((n) => n.container);

  const heal = async () => {
    healed = true;
    if (cfg.fault === 'pause') {
      await Promise.all(victims.map((v) => runtime.unpauseContainer(v.container)));
    } else if (cfg.fault === 'partition') {
      await Promise.all(
        victims.map((v) =>
          runtime.healPartition(v.container, peersOf(v), networkName(spec), method ?? 'peers'),
        ),
      );
    } else {
      await Promise.all(victims.map((v) => runtime.startContainer(v.container)));
    }
  };

  monitor.start();
  readers.start();
  writer.start();
  try {
    await sleep(cfg.warmupMs);
    if (deps.signal?.aborted) throw new CancelledError(doing);
    const names = victims.map((v) => v.name).join(', ');
    progress.step(`${label}: ${cfg.fault} ${names} (${cfg.target}), ${cfg.rate} writes/s`);
    // The fault's time: when it is in effect (kill, pause, partition: when the call returns), or,
    // for a graceful stop, when the shutdown begins (the call returns once the process exited).
    injected = true;
    if (cfg.fault === 'kill') {
      await Promise.all(victims.map((v) => runtime.killContainer(v.container, 'SIGKILL')));
    } else if (cfg.fault === 'stop') {
      t.faultAt = now();
      await Promise.all(victims.map((v) => runtime.stopContainer(v.container, 30)));
    } else if (cfg.fault === 'pause') {
      await Promise.all(victims.map((v) => runtime.pauseContainer(v.container)));
    } else {
      const v = victims[0]!;
      method = await runtime.partitionContainer(
        v.container,
        peersOf(v),
        networkName(spec),
        cfg.partitionMethod,
      );
      (t as { partitionMethod?: PartitionMethod }).partitionMethod = method;
      if (method === 'network')
        progress.warn(
          'partition by network disconnect: the client cannot reach the cut-off node either (the peers method needs root, nsenter and iptables)',
        );
    }
    if (cfg.fault !== 'stop') t.faultAt = now();
    const holdLeft = cfg.holdMs - (now() - t.faultAt);
    if (holdLeft > 0) await abortableSleep(holdLeft, deps.signal);

    // The leader's applied index when the fault ends: the faulted nodes must reach it.
    const leaderNow = await activeNode(nodes, targets, { ...healthDeps, timeoutMs: 500 }).catch(
      () => undefined,
    );
    const mark = leaderNow ? await leaderNow.api.leader().catch(() => undefined) : undefined;
    progress.step(`${label}: healing ${names}`);
    t.healAt = now();
    await heal();
    if (cfg.fault === 'kill' || cfg.fault === 'stop') await unsealIfNeeded(deps, victims, cfg);

    const caughtUp = await waitCaughtUp(
      nodes.map((n) => n.api),
      victims.map((v) => v.api),
      { mark: mark?.raft_applied_index, timeoutMs: cfg.healTimeoutMs, signal: deps.signal },
    );
    if (caughtUp.at !== undefined) t.rejoinedAt = caughtUp.at;
    else progress.warn(`${label}: not caught up in time: ${caughtUp.behind.join(', ')}`);
    progress.step(`${label}: waiting for a healthy cluster`);
    const after = await waitForHealth(targets, nodes.length, {
      ...healthDeps,
      waitMs: Math.max(1000, cfg.healTimeoutMs - (now() - t.healAt)),
      signal: deps.signal,
    });
    if (deps.signal?.aborted) throw new CancelledError(doing);
    if (after.verdict === 'healthy') t.healthyAt = now();
    t.leaderAfter = after.nodes.find((n) => n.active)?.name;
    await sleep(cfg.settleMs);
  } finally {
    t.endAt = now();
    await Promise.all([monitor.stop(), readers.stop(), writer.stop()]);
    for (const w of writer.writes) written.push(`${prefix}/${w.seq}`);
    written.push(`${prefix}/probe`);
    if (injected && !healed) {
      progress.warn(`healing ${victims.map((v) => v.name).join(', ')} before stopping`);
      await heal().catch((err) => progress.warn(`healing failed: ${(err as Error).message}`));
      if (cfg.fault === 'kill' || cfg.fault === 'stop')
        await unsealIfNeeded(deps, victims, cfg).catch(() => undefined);
    }
  }

  progress.step(
    `${label}: reading back ${writer.writes.filter((w) => w.ackAt !== undefined).length} acknowledged writes`,
  );
  t.lost = await readBack(nodes, targets, healthDeps, mount, prefix, writer.writes, doing);
  const report = analyzeRound(t);
  progress.done(
    `${label}: RTO ${report.rtoMs === null ? '-' : `${(report.rtoMs / 1000).toFixed(2)} s`}, ` +
      `${report.writes.failed} writes failed, ${report.lostWrites} lost, ` +
      `${report.healed ? `healed in ${((report.healMs ?? 0) / 1000).toFixed(1)} s` : 'NOT healed'}`,
  );
  return report;
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

async function unsealIfNeeded(
  deps: DrillDeps,
  victims: readonly DrillNode[],
  cfg: DrillConfig,
): Promise<void> {
  if (deps.spec.seal.type !== 'shamir' || !deps.unsealKeys) return;
  const keys = deps.unsealKeys;
  for (const v of victims) {
    await pollUntil(() => v.api.sealStatus().then(() => true), {
      what: `${v.name} to answer`,
      timeoutMs: cfg.healTimeoutMs,
      intervalMs: 200,
      signal: deps.signal,
    });
  }
  await unsealCluster(
    victims.map((v) => ({ name: v.name, address: v.address })),
    { progress: deps.progress, keys, connect: deps.connect, tls: deps.tls, signal: deps.signal },
  );
}

/** Reads every acknowledged write back from the active node; returns the sequence numbers that did not. */
async function readBack(
  nodes: readonly DrillNode[],
  targets: readonly HealthTarget[],
  healthDeps: HealthDeps,
  mount: string,
  prefix: string,
  writes: readonly WriteRecord[],
  doing: string,
): Promise<number[]> {
  const leader = await pollUntil(() => activeNode(nodes, targets, healthDeps), {
    what: 'an active node to read the writes back from',
    timeoutMs: 30_000,
    intervalMs: 500,
  }).catch(() => undefined);
  if (!leader)
    throw new RemoteError(
      doing,
      'no active node to read the acknowledged writes back from',
      '`vaultctl health`',
    );
  const lost: number[] = [];
  const acked = writes.filter((w) => w.ackAt !== undefined);
  await inBatches(acked, 16, async (w) => {
    let lastErr: unknown;
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const res = await leader.api.call<{ data?: { data?: { seq?: number } } }>(
          'GET',
          `/${mount}/data/${prefix}/${w.seq}`,
          'reading a drill key back',
          undefined,
          5000,
        );
        if (res.data?.data?.seq !== w.seq) lost.push(w.seq);
        return;
      } catch (err) {
        if (err instanceof VaultRequestError && err.status === 404) {
          lost.push(w.seq);
          return;
        }
        lastErr = err;
      }
    }
    throw new RemoteError(
      doing,
      `reading drill key ${w.seq} back failed: ${(lastErr as Error).message}`,
      'the cluster may still be recovering: vaultctl health says when it is healthy',
    );
  });
  return lost.sort((a, b) => a - b);
}
