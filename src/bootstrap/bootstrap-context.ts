/**
 * What the steps of `bootstrapCluster` share: the cluster, the options, bootstrap's own client per
 * node, the step records and timings, and what the earlier steps found (the key material, whether
 * this run initialised the cluster). One object, made once per run and passed to every step.
 */
import type { Progress } from '../cluster/events.js';
import { pollUntil } from '../cluster/poll.js';
import type { NodeHandle, RunningCluster } from '../cluster/running.js';
import { UsageError } from '../errors.js';
import { AUTO_SEALS, type ClusterSpec } from '../spec/schema.js';
import type { InitMaterial, StateDir } from '../state/state-dir.js';
import type { VaultNode } from '../vault/port.js';

export interface BootstrapDeps {
  readonly progress: Progress;
  readonly signal?: AbortSignal | undefined;
}

export interface BootstrapOptions {
  /** Budget for each wait (nodes answering, unseal, join, voters). */
  readonly timeoutMs?: number;
  /** PGP public keys (base64), one per share: the stored shares are then encrypted to them. */
  readonly pgpKeys?: readonly string[];
  /** Create an admin credential, check it, then revoke the root token. */
  readonly revokeRoot?: boolean;
  /**
   * The spec and state dir for a cluster given by addresses (`init --addr`): its handle carries
   * neither, yet bootstrap needs the seal, the configuration to apply and where to keep the keys.
   */
  readonly config?: { readonly spec: ClusterSpec; readonly state: StateDir };
}

export interface StepRecord {
  readonly step: string;
  readonly changed: boolean;
  readonly detail?: string;
}

export interface BootstrapContext {
  readonly cluster: RunningCluster;
  readonly spec: ClusterSpec;
  readonly state: StateDir;
  readonly progress: Progress;
  readonly signal: AbortSignal | undefined;
  readonly opts: BootstrapOptions;
  readonly timeoutMs: number;
  /** An auto-unseal seal: recovery keys instead of unseal keys, and nobody submits shares. */
  readonly auto: boolean;
  readonly steps: StepRecord[];
  /** Milliseconds from the start of the run to the end of each phase. */
  readonly timings: Record<string, number>;
  /** The stored key material: read at the start, written by the init step. */
  material: InitMaterial | undefined;
  /** True once this run initialised the first node. */
  initialisedNow: boolean;
  /**
   * Bootstrap's own client for a node: unauthenticated until `useToken`, so that a token the
   * cluster's shared clients carry (perhaps a stale one) never reaches the init and unseal calls.
   */
  api(node: NodeHandle): VaultNode;
  /** Sets the token on every one of bootstrap's clients. */
  useToken(token: string): void;
  /**
   * A step's outcome, as a record and a progress line. `waited`: a wait, not a change; reported
   * as done without "(already done)".
   */
  record(step: string, changed: boolean | 'waited', detail?: string): void;
  /** Notes the end of a phase in `timings`. */
  mark(phase: string): void;
  /** A wait through `pollUntil` with the cluster's clock (default budget: `timeoutMs`). */
  poll<T>(what: string, check: () => Promise<T | undefined>, ms?: number): Promise<T>;
  /** A wait on one node: on timeout, a RemoteError with its last log lines and the resume hint. */
  waitOn<T>(node: NodeHandle, what: string, check: () => Promise<T | undefined>, ms?: number): Promise<T>;
}

/**
 * Every bootstrap wait is for something a node does in tens to hundreds of milliseconds (answer,
 * unseal, elect itself, join): a wait ends on average half an interval after its event, and a
 * bootstrap has about eight of them. The checks are single cheap GETs on loopback.
 */
const BOOTSTRAP_POLL_MS = 100;

/** The context of one run; throws a usage error for a cluster vaultctl does not manage. */
export function bootstrapContext(
  cluster: RunningCluster,
  deps: BootstrapDeps,
  opts: BootstrapOptions,
): BootstrapContext {
  const { clock } = cluster;
  const spec = cluster.spec ?? opts.config?.spec;
  const state = cluster.state ?? opts.config?.state;
  if (!spec || !state) {
    throw new UsageError(
      'initialising the cluster',
      'init needs a spec and a state dir, also for nodes given by address',
      'name the cluster with --cluster (its state dir keeps the keys)',
    );
  }
  const { progress, signal } = deps;
  const timeoutMs = opts.timeoutMs ?? 90_000;
  const t0 = clock.now();
  const clients = new Map(cluster.nodes.map((n) => [n.name, n.api({ token: undefined })]));
  const steps: StepRecord[] = [];
  const timings: Record<string, number> = {};
  return {
    cluster,
    spec,
    state,
    progress,
    signal,
    opts,
    timeoutMs,
    auto: AUTO_SEALS.includes(spec.seal.type),
    steps,
    timings,
    material: state.readInit(),
    initialisedNow: false,
    api: (n) => clients.get(n.name)!,
    useToken(token) {
      for (const c of clients.values()) c.setToken(token);
    },
    record(step, changed, detail) {
      const c = changed === true;
      steps.push(detail ? { step, changed: c, detail } : { step, changed: c });
      progress.done(`${step}${changed === false ? ' (already done)' : ''}${detail ? `: ${detail}` : ''}`);
    },
    mark(phase) {
      timings[phase] = Math.round(clock.now() - t0);
    },
    poll: (what, check, ms = timeoutMs) =>
      pollUntil(check, { what, timeoutMs: ms, intervalMs: BOOTSTRAP_POLL_MS, signal, clock }),
    waitOn: (node, what, check, ms = timeoutMs) =>
      cluster.waitFor(what, check, {
        timeoutMs: ms,
        intervalMs: BOOTSTRAP_POLL_MS,
        signal,
        node,
        doing: `bootstrapping ${node.name}`,
        hint: 'run `vaultctl health` to see every node; `vaultctl init` resumes where it stopped',
      }),
  };
}

/** Go-style durations ("1h30m", "10s", "500ms") to milliseconds; NaN when not a duration. */
export function durationMs(text: string): number {
  const re = /(\d+(?:\.\d+)?)(ms|h|m|s)/g;
  let total = 0;
  let consumed = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const n = Number(m[1]);
    total += m[2] === 'ms' ? n : m[2] === 's' ? n * 1000 : m[2] === 'm' ? n * 60_000 : n * 3_600_000;
    consumed += m[0].length;
  }
  return consumed === text.length && consumed > 0 ? total : Number.NaN;
}
