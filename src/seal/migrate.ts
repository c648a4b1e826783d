/**
 * `migrateSeal`: the documented seal migration of an HA Raft cluster, node by node. A snapshot
 * first; then each standby, and the active node last after a step-down, restarts with the old seal
 * marked `disabled` beside the new one and is unsealed with `-migrate` (the active node that comes
 * up on the new seal rewraps the root key); then each node restarts once more without the old seal.
 * Every step is written to the journal (seal/journal.ts) before the next begins: a rerun continues.
 * One node is down at a time, and only once the others are unsealed voters: the cluster keeps quorum.
 */
import { mkdirSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import type { Progress } from '../cluster/events.js';
import { waitNodeBack } from '../cluster/rolling/node-back.js';
import { recreateNode } from '../cluster/rolling/recreate.js';
import { stepDown } from '../cluster/rolling/step-down.js';
import type { ManagedCluster, ManagedNode, RunningCluster } from '../cluster/running.js';
import { CancelledError, RemoteError, UsageError } from '../errors.js';
import { checkHealth } from '../health/health.js';
import type { ContainerRuntime } from '../runtime/port.js';
import { saveSnapshot } from '../snapshot/save.js';
import { usesUnsealer } from '../spec/names.js';
import { resolveSpec } from '../spec/resolve.js';
import type { ClusterSpec, SealType } from '../spec/schema.js';
import type { InitMaterial } from '../state/state-dir.js';
import { renderCluster } from '../templates/render.js';
import type { RenderedCluster } from '../templates/rendered.js';
import { ensureUnsealer, transitNodeToken, withTransitToken } from '../unsealer/unsealer.js';
import {
  backupInit,
  closeJournal,
  markDone,
  readJournal,
  type SealJournal,
  writeJournal,
} from './journal.js';
import { keyKindAfter, migrationRefusal, type NodeStep, nextNode, planNodeSteps, stepId } from './plan.js';

export interface MigrateDeps {
  readonly runtime: ContainerRuntime;
  readonly progress: Progress;
  readonly signal?: AbortSignal | undefined;
  readonly env: NodeJS.ProcessEnv;
}

export interface MigrateOptions {
  readonly to: SealType;
  readonly dryRun?: boolean;
  /** Where the snapshot goes; default <state dir>/snapshots. */
  readonly snapshotDir?: string | undefined;
  /** How long one node gets to come back unsealed, caught up and a voter. */
  readonly nodeTimeoutMs?: number;
}

export interface MigrateResult {
  readonly cluster: string;
  readonly from: SealType;
  readonly to: SealType;
  readonly dryRun: boolean;
  /** This run continued an interrupted one. */
  readonly resumed: boolean;
  readonly snapshot?: string | undefined;
  /** Node steps in order: planned (dry run) or done by this run. */
  readonly steps: readonly NodeStep[];
  readonly keyKind: InitMaterial['keyKind'];
}

/** The spec with another seal, through every rule `resolveSpec` applies (flavor, version, plugins). */
function withSeal(spec: ClusterSpec, seal: Record<string, unknown>, doing: string): ClusterSpec {
  const input = spec.input as Record<string, unknown>;
  return resolveSpec({ ...input, seal }, doing).spec;
}

function targetSeal(spec: ClusterSpec, to: SealType): Record<string, unknown> {
  const input = ((spec.input as Record<string, unknown>).seal ?? {}) as Record<string, unknown>;
  return { ...input, type: to };
}

const INTERVAL_MS = 500;

/**
 * Migrates the running cluster's seal to `opts.to`, or continues the migration the journal records.
 * Refuses (UsageError, nothing touched) what cannot work; a node that does not come back is a
 * RemoteError with its log, and the journal keeps what was done.
 */
export async function migrateSeal(
  cluster: ManagedCluster,
  deps: MigrateDeps,
  opts: MigrateOptions,
): Promise<MigrateResult> {
  const { spec, state } = cluster;
  const { progress } = deps;
  const journal0 = readJournal(state);
  const doing = `migrating the seal of ${spec.name} to ${opts.to}`;
  if (journal0 && journal0.to !== opts.to)
    throw new UsageError(
      doing,
      `a migration from ${journal0.from} to ${journal0.to} is under way (${join(state.root, 'seal-migration.json')})`,
      `finish it first: vaultctl seal migrate --to ${journal0.to}`,
    );
  const fromSpec = journal0 ? withSeal(spec, journal0.fromSeal, doing) : spec;
  const toSpec = withSeal(fromSpec, journal0 ? journal0.toSeal : targetSeal(spec, opts.to), doing);
  const from = fromSpec.seal.type;
  const to = toSpec.seal.type;
  const material = state.readInit();
  if (!journal0) {
    const refusal = migrationRefusal(from, to, material, state.initFile);
    if (refusal) throw refusal;
  }
  const keys = (material?.keys ?? []) as string[];
  const threshold = material?.threshold;
  const order = spec.nodes.map((n) => n.name);
  const token = await cluster.token();
  if (!token)
    throw new UsageError(
      doing,
      'no token',
      'export BAO_TOKEN, or run it where `vaultctl init` stored its credentials',
    );
  cluster.useToken(token);

  // Preflight: every node unsealed and a voter, so one node down still leaves a quorum.
  const active = await cluster.active();
  if (!journal0) {
    const h = await checkHealth(
      cluster.nodes.map((n) => ({ name: n.name, address: n.address })),
      cluster.expectedVoters,
      { connect: cluster.connector, tls: cluster.tls, token },
    );
    if (h.verdict !== 'healthy')
      throw new UsageError(
        doing,
        `the cluster is ${h.verdict}: ${h.reasons.join('; ')}`,
        'make `vaultctl health` exit 0 first; a migration takes one node down at a time',
      );
  }
  if (!active)
    throw new RemoteError(doing, 'no node is active', '`vaultctl health` shows what is wrong; unseal first');
  if (!journal0) {
    const ap = await active.api().autopilotState();
    if (ap.failure_tolerance < 1)
      throw new UsageError(
        doing,
        `the cluster's failure tolerance is ${ap.failure_tolerance}`,
        'a migration restarts one node at a time: it needs at least 3 voters',
      );
  }

  const done = new Set(journal0?.done ?? []);
  if (opts.dryRun)
    return {
      cluster: spec.name,
      from,
      to,
      dryRun: true,
      resumed: Boolean(journal0),
      snapshot: journal0?.snapshot,
      steps: planNodeSteps(order, done, active.name),
      keyKind: keyKindAfter(to),
    };

  // External transit: the nodes need a token now, before any node restarts.
  if (to === 'transit' && !usesUnsealer(toSpec) && !transitNodeToken(toSpec, state, deps.env))
    throw new UsageError(
      doing,
      `the transit seal at ${toSpec.seal.transit?.address} needs a token for the nodes, and none was given`,
      'put it in a file named by seal.transit.tokenFile (0600), or export VAULTCTL_TRANSIT_TOKEN',
    );

  const journal: SealJournal = journal0 ?? {
    version: 1,
    startedAt: new Date().toISOString(),
    from,
    to,
    fromSeal: targetSeal(fromSpec, from),
    toSeal: targetSeal(toSpec, to),
    done: [],
  };
  writeJournal(state, journal);
  const backup = backupInit(state);
  if (backup && !journal0) progress.info(`init.json copied to ${backup} (0600) until the migration is done`);

  if (!done.has('snapshot')) {
    const dir = opts.snapshotDir ?? join(state.root, 'snapshots');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    progress.step(`saving a snapshot before the migration into ${dir}`);
    const meta = await saveSnapshot(
      fromSpec,
      state,
      { api: active.api(), token, tls: cluster.tls, progress, signal: deps.signal },
      { dir },
    );
    journal.snapshot = resolve(dir, basename(meta.file));
    markDone(state, journal, 'snapshot');
    done.add('snapshot');
  }

  // The target seal must answer before any node restarts on it: a node exits when its seal is unreachable.
  if (to === 'static') state.ensureSealKey();
  let transitToken = to === 'transit' ? transitNodeToken(toSpec, state, deps.env) : undefined;
  if (usesUnsealer(toSpec)) {
    const r = renderCluster(toSpec, state.root);
    for (const f of r.files.filter((f) => f.path.startsWith('unsealer')))
      state.writeFileAtomic(join(state.root, f.path), f.content);
    const u = await ensureUnsealer(r, state, {
      runtime: deps.runtime,
      connect: cluster.connector,
      progress,
      signal: deps.signal,
    });
    transitToken = u.token;
  }
  const fromToken = from === 'transit' ? transitNodeToken(fromSpec, state, deps.env) : undefined;
  const render = (phase: 'migrate' | 'finalize'): RenderedCluster => {
    const r = renderCluster(
      toSpec,
      state.root,
      phase === 'migrate' ? { disabledSeal: fromSpec.seal } : undefined,
    );
    const t = transitToken ?? (phase === 'migrate' ? fromToken : undefined);
    return t ? withTransitToken(r, t) : r;
  };

  const stepsDone: NodeStep[] = [];
  const timeoutMs = opts.nodeTimeoutMs ?? 180_000;
  const finalRendered = render('finalize');
  const migrationRendered = render('migrate');
  for (const phase of ['migrate', 'finalize'] as const) {
    for (;;) {
      if (deps.signal?.aborted) throw new CancelledError(doing);
      const leader = (await cluster.active())?.name;
      const step = nextNode(phase, order, done, leader);
      if (!step) break;
      const node = cluster.node(step.node);
      if (step.stepDown) {
        progress.step(`stepping ${node.name} down: the active node goes last`);
        await stepDown(cluster, node, {
          progress,
          signal: deps.signal,
          hint: '`vaultctl health` shows the nodes; rerun `vaultctl seal migrate` to continue',
        });
        // A migrated standby took over and rewraps the root key with the new seal as it comes up.
        if (phase === 'migrate') await verifySeal(cluster, to, timeoutMs, deps);
      }
      // Once the active node has migrated the storage, a node that still has the old seal in its
      // config cannot verify the recovery keys (they are wrapped by the new seal now): measured on
      // OpenBao 2.7.2. Such a node, the old active one above all, starts on the final config.
      const storageMigrated = phase === 'finalize' || (await activeSealType(cluster)) === to;
      progress.step(
        storageMigrated
          ? `restarting ${node.name} on the ${to} seal without the old one`
          : `migrating ${node.name}: the ${from} seal disabled beside the ${to} seal`,
      );
      await restartNode(cluster, storageMigrated ? finalRendered : migrationRendered, node, deps);
      await waitNodeBack(cluster, node, {
        timeoutMs,
        signal: deps.signal,
        shares: { keys, threshold, migrate: !storageMigrated },
        doing: `unsealing ${node.name} (${phase})`,
        hint: '`vaultctl health`; rerun `vaultctl seal migrate` to continue',
      });
      for (const p of storageMigrated ? (['migrate', 'finalize'] as const) : [phase]) {
        markDone(state, journal, stepId(p, node.name));
        done.add(stepId(p, node.name));
      }
      stepsDone.push(storageMigrated ? { ...step, direct: true } : step);
      progress.done(`${node.name}: unsealed on the ${to} seal${storageMigrated ? ', old seal removed' : ''}`);
    }
    if (phase === 'migrate') await verifySeal(cluster, to, timeoutMs, deps);
  }

  // The state dir now describes the new seal: the spec input, init.json's kind, the rendered files.
  const now = material ? { ...material, sealType: to, keyKind: keyKindAfter(to) } : undefined;
  if (now && !done.has('record')) state.writeFileAtomic(state.initFile, `${JSON.stringify(now, null, 2)}\n`);
  state.writeRendered(finalRendered);
  state.saveSpec(toSpec);
  markDone(state, journal, 'record');
  closeJournal(state, journal);
  return {
    cluster: spec.name,
    from,
    to,
    dryRun: false,
    resumed: Boolean(journal0),
    snapshot: journal.snapshot,
    steps: stepsDone,
    keyKind: keyKindAfter(to),
  };
}

/** The seal type the active node reports (undefined when none is active). */
async function activeSealType(cluster: RunningCluster): Promise<string | undefined> {
  const a = await cluster.active({ timeoutMs: 2000 });
  return (
    await a
      ?.api({ token: undefined })
      .sealStatus()
      .catch(() => undefined)
  )?.type;
}

/** Writes the node's own config only (the others read theirs at their own restart) and recreates its container. */
async function restartNode(
  cluster: ManagedCluster,
  rendered: RenderedCluster,
  node: ManagedNode,
  deps: MigrateDeps,
): Promise<void> {
  const file = rendered.files.find((f) => f.path === join('nodes', node.name, 'node.hcl'));
  if (file) cluster.state.writeFileAtomic(join(cluster.state.root, file.path), file.content);
  await recreateNode(cluster, node, rendered, {
    progress: deps.progress,
    graceful: false,
    doing: `recreating ${node.name}`,
    hint: '`vaultctl health`; rerun `vaultctl seal migrate` to continue',
  });
}

/** After the migration round every node must report the new seal, and none a migration under way. */
async function verifySeal(
  cluster: RunningCluster,
  to: SealType,
  timeoutMs: number,
  deps: MigrateDeps,
): Promise<void> {
  await cluster.waitFor(
    `the active node to report the ${to} seal`,
    async () => {
      const a = await cluster.active({ timeoutMs: 2000 });
      const s = await a
        ?.api({ token: undefined })
        .sealStatus()
        .catch(() => undefined);
      deps.progress.debug(`seal status of the active node: ${s?.type} migration=${String(s?.migration)}`);
      return s && !s.sealed && s.type === to ? true : undefined;
    },
    {
      timeoutMs,
      intervalMs: INTERVAL_MS,
      signal: deps.signal,
      hint: 'the active node rewraps the root key when it comes up on the new seal: `vaultctl health`, `docker logs` of the active node',
    },
  );
}
