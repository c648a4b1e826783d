/**
 * `upCluster`: observe, plan, apply. Idempotent: a second run finds nothing to do. A run that fails
 * or is cancelled half-way removes what it created in that run (never volumes that existed before).
 */
import { existsSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import type { Progress } from '../cluster/events.js';
import type { Clock } from '../cluster/poll.js';
import { PollTimeoutError, pollUntil } from '../cluster/poll.js';
import { errorMessage, RemoteError, UsageError } from '../errors.js';
import type { ContainerRuntime } from '../runtime/port.js';
import { LABELS } from '../runtime/port.js';
import { devKmsContainerName } from '../spec/dev-kms-names.js';
import {
  clusterLabels,
  endpointAddress,
  endpointContainerName,
  endpointStandbyAddress,
  monitoringContainerName,
  nodeAddress,
  prometheusAddress,
  usesUnsealer,
} from '../spec/names.js';
import type { ClusterSpec } from '../spec/schema.js';
import type { StateDir } from '../state/state-dir.js';
import { renderCluster } from '../templates/render.js';
import type { RenderedCluster } from '../templates/rendered.js';
import { clientTlsFromState, ensureTls } from '../tls/tls.js';
import { ensureUnsealer, transitNodeToken, withTransitToken } from '../unsealer/unsealer.js';
import type { VaultConnector, VaultTls } from '../vault/port.js';
import { ensureDevKmsKey } from './dev-kms.js';
import {
  ensureImage,
  haproxyImageHint,
  preferLocalImages,
  prometheusImageHint,
  serverImageHint,
} from './images.js';
import type { Observed, PlanStep, UpPlan } from './plan.js';
import { describeStep, planUp } from './plan.js';
import { recreateNodesOneByOne } from './rolling.js';

export interface UpDeps {
  readonly runtime: ContainerRuntime;
  /** Makes the API clients that wait for every node to answer. */
  readonly connect: VaultConnector;
  readonly progress: Progress;
  readonly signal?: AbortSignal | undefined;
  readonly clock?: Clock;
  /**
   * Whether nothing listens on a host port (the preflight). The real probe binds the port; unit
   * tests against the fake runtime pass their own, so they do not depend on which ports the
   * integration tests running beside them hold.
   */
  readonly portIsFree?: (host: string, port: number) => Promise<boolean>;
}

export interface UpOptions {
  readonly dryRun?: boolean;
  /** How long to wait for every node's API to answer after start. */
  readonly readyTimeoutMs?: number;
}

export interface LocalStep {
  readonly action:
    | 'create-state-dir'
    | 'generate-seal-key'
    | 'create-ca'
    | 'issue-certificate'
    | 'write-file';
  readonly target: string;
  readonly reason: string;
}

export interface UpResult {
  readonly spec: ClusterSpec;
  readonly stateDir: string;
  readonly localSteps: readonly LocalStep[];
  readonly plan: UpPlan;
  readonly dryRun: boolean;
  readonly image: { readonly ref: string; readonly pulled: boolean };
  readonly nodes: readonly { name: string; address: string }[];
  /** The active-node endpoint on the host (and the one over every unsealed node, with standby reads). */
  readonly endpoint?: { readonly address: string; readonly standbyAddress?: string; readonly image: string };
  /** Prometheus' address on the host, with `monitoring.enabled`. */
  readonly monitoring?: { readonly address: string; readonly image: string };
  /** The unsealer (transit seal without an address): its loopback address and what this run did. */
  readonly unsealer?: { readonly address: string; readonly actions: readonly string[] };
}

export async function observeCluster(
  runtime: ContainerRuntime,
  rendered: RenderedCluster,
): Promise<Observed> {
  const labels = clusterLabels(rendered.spec);
  const [containers, networks, volumes, all] = await Promise.all([
    runtime.listContainers(labels),
    runtime.listNetworks(labels),
    runtime.listVolumes(labels),
    runtime.listContainers({}),
  ]);
  const ours = new Set(containers.map((c) => c.name));
  const wanted = new Set(rendered.containers.map((c) => c.name));
  const foreignNames = all.filter((c) => wanted.has(c.name) && !ours.has(c.name)).map((c) => c.name);
  return { containers, networks, volumes, foreignNames };
}

/** True when nothing listens on host:port. */
export function portIsFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ host, port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/** Waits until Prometheus answers /-/ready on its published port. */
async function waitForPrometheus(spec: ClusterSpec, deps: UpDeps, timeoutMs: number): Promise<void> {
  const address = prometheusAddress(spec);
  try {
    await pollUntil(
      async () => {
        const res = await fetch(`${address}/-/ready`, { signal: AbortSignal.timeout(2000) }).catch(
          () => undefined,
        );
        return res?.ok ? true : undefined;
      },
      {
        what: `Prometheus to answer on ${address}`,
        timeoutMs,
        intervalMs: 250,
        signal: deps.signal,
        ...(deps.clock ? { clock: deps.clock } : {}),
      },
    );
  } catch (err) {
    if (!(err instanceof PollTimeoutError)) throw err;
    const name = monitoringContainerName(spec);
    const logs = await deps.runtime.containerLogs(name, 20).catch(() => '(log not available)');
    throw new RemoteError(
      'starting Prometheus',
      `${err.message}\n--- last lines of ${name} ---\n${logs.trimEnd()}`,
      `\`docker logs ${name}\` shows the whole log`,
    );
  }
}

/** Waits until every node's API answers (any seal state). On timeout, attaches the node's last log lines. */
async function waitForApis(
  rendered: RenderedCluster,
  deps: UpDeps,
  timeoutMs: number,
  tls: VaultTls | undefined,
): Promise<void> {
  const spec = rendered.spec;
  await Promise.all(
    spec.nodes.map(async (node, i) => {
      const api = deps.connect({ address: nodeAddress(spec, node), timeoutMs: 2000, tls });
      const container = rendered.containers[i]!;
      try {
        await pollUntil(() => api.sealStatus(), {
          what: `${node.name} to answer on ${api.address}`,
          timeoutMs,
          intervalMs: 100,
          signal: deps.signal,
          ...(deps.clock ? { clock: deps.clock } : {}),
        });
      } catch (err) {
        if (!(err instanceof PollTimeoutError)) throw err;
        const logs = await deps.runtime.containerLogs(container.name, 20).catch(() => '(log not available)');
        throw new RemoteError(
          `starting ${node.name}`,
          `${err.message}\n--- last lines of ${container.name} ---\n${logs.trimEnd()}`,
          `\`docker logs ${container.name}\` shows the whole log`,
        );
      }
    }),
  );
}

/**
 * seal.awskms.credentialsFile is bind-mounted into every node: a missing file would make Docker
 * create an empty directory in its place, and one others can read leaks the keys on this host.
 */
function checkAwsCredentialsFile(spec: ClusterSpec): void {
  const file = spec.seal.type === 'awskms' ? spec.seal.awskms?.credentialsFile : undefined;
  if (!file) return;
  let mode: number;
  try {
    const st = statSync(file);
    if (!st.isFile()) throw new Error('not a regular file');
    mode = st.mode & 0o777;
  } catch (err) {
    throw new UsageError(
      'checking seal.awskms.credentialsFile',
      `${file}: ${errorMessage(err)}`,
      'give the absolute path of an AWS shared credentials file ([default] aws_access_key_id = ..., aws_secret_access_key = ...), mode 0600',
    );
  }
  if (mode & 0o077) {
    throw new UsageError(
      'checking seal.awskms.credentialsFile',
      `${file} has mode 0${mode.toString(8)}: other users of this host can read the AWS keys`,
      `chmod 600 ${file}`,
    );
  }
}

export async function upCluster(
  requested: ClusterSpec,
  state: StateDir,
  deps: UpDeps,
  opts: UpOptions = {},
): Promise<UpResult> {
  const { runtime, progress } = deps;
  const dryRun = opts.dryRun ?? false;
  await runtime.ping(deps.signal);
  const spec = await preferLocalImages(requested, deps);
  let rendered = renderCluster(spec, state.root);
  // The transit token reaches the nodes through their environment only: the unsealer's from the
  // state dir (issued below when missing), an external server's from a file or the environment.
  const transitToken = spec.seal.type === 'transit' ? transitNodeToken(spec, state, process.env) : undefined;
  if (spec.seal.type === 'transit' && !usesUnsealer(spec) && !transitToken && !dryRun) {
    throw new UsageError(
      'starting the cluster',
      `the transit seal at ${spec.seal.transit?.address} needs a token for the nodes, and none was given`,
      'put it in a file named by seal.transit.tokenFile (0600), or export VAULTCTL_TRANSIT_TOKEN; its policy needs update on <mount>/encrypt/<key>, <mount>/decrypt/<key> and auth/token/renew-self',
    );
  }
  if (transitToken) rendered = withTransitToken(rendered, transitToken);
  checkAwsCredentialsFile(spec);

  let observed = await observeCluster(runtime, rendered);
  if (observed.foreignNames.length > 0) {
    throw new UsageError(
      'planning the cluster',
      `container name${observed.foreignNames.length > 1 ? 's' : ''} ${observed.foreignNames.join(', ')} already in use by containers vaultctl does not manage`,
      `remove or rename them (docker rm -f ${observed.foreignNames.join(' ')}), or choose another cluster name (--cluster)`,
    );
  }
  // Data volumes of an earlier cluster, but no static seal key to open them: a new key would
  // make a cluster that can never unseal that data (the nodes retry forever).
  const oldData = observed.volumes.filter((v) => v.labels[LABELS.kind] === 'data');
  if (spec.seal.type === 'static' && oldData.length > 0 && !existsSync(state.sealKeyFile)) {
    throw new UsageError(
      'planning the cluster',
      `the data volumes ${oldData.map((v) => v.name).join(', ')} hold an earlier cluster's data, but ${state.sealKeyFile} does not exist: a new seal key could not unseal it`,
      'restore the state dir from its backup (it holds seal.key), or remove the old data with `vaultctl down --volumes`',
    );
  }
  let plan = planUp(rendered, observed);
  for (const o of plan.orphans)
    progress.warn(`container ${o} carries this cluster's label but is not in the spec; left alone`);

  const localSteps: LocalStep[] = [];
  if (!state.exists()) localSteps.push({ action: 'create-state-dir', target: state.root, reason: 'missing' });
  if (spec.seal.type === 'static' && !state.exists()) {
    localSteps.push({
      action: 'generate-seal-key',
      target: state.sealKeyFile,
      reason: 'static seal needs a 32-byte key',
    });
  }

  const nodes = spec.nodes.map((n) => ({ name: n.name, address: nodeAddress(spec, n) }));
  const monitoring = spec.monitoring.enabled
    ? { address: prometheusAddress(spec), image: spec.monitoring.image }
    : undefined;
  const endpointAt = endpointAddress(spec);
  const standbyAt = endpointStandbyAddress(spec);
  const endpoint = endpointAt
    ? { address: endpointAt, ...(standbyAt ? { standbyAddress: standbyAt } : {}), image: spec.endpoint.image }
    : undefined;
  if (dryRun) {
    return {
      spec,
      stateDir: state.root,
      localSteps,
      plan,
      dryRun,
      image: { ref: spec.image, pulled: false },
      nodes,
      ...(endpoint ? { endpoint } : {}),
      ...(monitoring ? { monitoring } : {}),
    };
  }

  // Preflight before creating anything: host ports of containers we will start must be free. A
  // container that is recreated holds its own port until it is removed: not a conflict.
  const recreated = new Set(plan.steps.filter((s) => s.action === 'remove-container').map((s) => s.target));
  const toStart = new Set(
    plan.steps.filter((s) => s.action === 'start-container' && !recreated.has(s.target)).map((s) => s.target),
  );
  const probePort = deps.portIsFree ?? portIsFree;
  const busy: string[] = [];
  for (const c of rendered.containers) {
    if (!toStart.has(c.name)) continue;
    for (const p of c.ports) {
      if (!(await probePort(p.hostIp, p.hostPort))) busy.push(`${p.hostIp}:${p.hostPort} (${c.hostname})`);
    }
  }
  if (busy.length > 0) {
    throw new UsageError(
      'starting the cluster',
      `port${busy.length > 1 ? 's' : ''} already in use: ${busy.join(', ')}`,
      'stop whatever listens there (ss -ltnp shows it), or choose other ports: apiPortBase in vaultctl.yaml, VAULTCTL_API_PORT or --api-port',
    );
  }

  // Local preparation: idempotent and never destructive (keys are created once, never replaced).
  state.ensure();
  if (spec.seal.type === 'static' && state.ensureSealKey()) {
    progress.info(
      `generated the static seal key ${state.sealKeyFile} (0600); back it up: without it the data cannot be unsealed`,
    );
    if (!localSteps.some((s) => s.action === 'generate-seal-key')) {
      localSteps.push({ action: 'generate-seal-key', target: state.sealKeyFile, reason: 'missing' });
    }
  }
  const tlsResult = await ensureTls(spec, state, progress);
  if (tlsResult.createdCa)
    localSteps.push({ action: 'create-ca', target: 'tls/ca.pem', reason: 'TLS needs a cluster CA' });
  for (const n of tlsResult.issued) {
    localSteps.push({
      action: 'issue-certificate',
      target: n,
      reason: 'missing, expiring or for other names',
    });
  }
  for (const f of state.writeRendered(rendered)) {
    localSteps.push({ action: 'write-file', target: f, reason: 'rendered from the spec' });
  }
  const creates = plan.steps.filter((s) => s.action === 'create-container').map((s) => s.target);
  const monitoringName = monitoringContainerName(spec);
  const endpointName = endpointContainerName(spec);
  const kmsContainer = devKmsContainerName(spec.name);
  const pulled = creates.some((n) => n !== monitoringName && n !== endpointName && n !== kmsContainer)
    ? await ensureImage(spec.image, serverImageHint(spec), deps)
    : false;
  if (creates.includes(endpointName)) await ensureImage(spec.endpoint.image, haproxyImageHint(spec), deps);
  if (creates.includes(devKmsContainerName(spec.name)))
    await ensureImage(
      spec.seal.devKms.image,
      'build it from moto[server]: bash scripts/setup.sh (or vaultctl image build --moto DIR)',
      deps,
    );
  if (monitoring && creates.includes(monitoringName))
    await ensureImage(spec.monitoring.image, prometheusImageHint(spec), deps);

  // Every container with volumes is created after a helper hands them to its unprivileged uid.
  if (creates.length > 0 || usesUnsealer(spec))
    await ensureImage(
      spec.security.helperImage,
      'build it from busybox-static: bash scripts/setup.sh (or vaultctl image build --busybox)',
      deps,
    );

  let unsealerDone: UpResult['unsealer'];
  if (usesUnsealer(spec)) {
    // The unsealer must serve the seal key before any node starts: a node that cannot reach its
    // transit seal exits at once. Then the plan is made again with the nodes' token.
    const unsealer = await ensureUnsealer(rendered, state, deps, {
      ...(opts.readyTimeoutMs !== undefined ? { readyTimeoutMs: opts.readyTimeoutMs } : {}),
    });
    unsealerDone = { address: unsealer.address, actions: unsealer.actions };
    rendered = withTransitToken(renderCluster(spec, state.root), unsealer.token);
    observed = await observeCluster(runtime, rendered);
    plan = planUp(rendered, observed);
  }

  // Reported whole; the nodes of a serving cluster are recreated one by one first, the rest applied.
  const reported = plan;
  plan = await recreateNodesOneByOne(rendered, plan, state, deps, {
    tls: clientTlsFromState(spec, state),
    nodeTimeoutMs: (opts.readyTimeoutMs ?? 60_000) * 2,
  });

  const created: { kind: 'container' | 'volume' | 'network'; name: string }[] = [];
  const apply = async (s: PlanStep) => {
    switch (s.action) {
      case 'create-network':
        await runtime.createNetwork(s.target, s.labels ?? {});
        created.push({ kind: 'network', name: s.target });
        break;
      case 'create-volume':
        await runtime.createVolume(s.target, s.labels ?? {});
        created.push({ kind: 'volume', name: s.target });
        break;
      case 'remove-container':
        await runtime.removeContainer(s.target);
        break;
      case 'create-container':
        await runtime.createContainer(s.container!);
        created.push({ kind: 'container', name: s.target });
        break;
      case 'start-container':
        await runtime.startContainer(s.target);
        break;
      case 'unpause-container':
        await runtime.unpauseContainer(s.target);
        break;
    }
  };

  // The dev KMS starts first and holds the key before any node starts: a node whose seal key is
  // missing exits at once.
  const kmsName = devKmsContainerName(spec.name);
  const steps = spec.seal.devKms.enabled
    ? [
        ...plan.steps.filter((s) => !s.action.endsWith('-container')),
        ...plan.steps.filter((s) => s.action.endsWith('-container') && s.target === kmsName),
        ...plan.steps.filter((s) => s.action.endsWith('-container') && s.target !== kmsName),
      ]
    : plan.steps;
  let kmsReady = !spec.seal.devKms.enabled;
  const kmsKey = async () => {
    progress.step('waiting for the dev KMS and its key');
    const key = await ensureDevKmsKey(spec, { signal: deps.signal });
    if (key.created)
      progress.info(`dev KMS: created the key ${key.alias} (${key.keyId}); it lives in memory only`);
    kmsReady = true;
  };
  const applyLogged = async (s: PlanStep) => {
    progress.step(describeStep(s));
    await apply(s);
    progress.debug(describeStep(s), s.container?.hostname);
  };
  // Starting a container is the slow step (a third of a second each on a busy machine: the engine
  // sets up its network and mounts), and no node needs another one running to start (retry_join
  // keeps trying; the endpoint resolves its nodes late). So everything else is applied in order and
  // the starts go together at the end (the dev KMS's first, and its key made before any node
  // starts); a failed start still rolls back the whole run, once every start has settled.
  const starts = steps.filter((s) => s.action === 'start-container');
  try {
    for (const s of steps) {
      if (deps.signal?.aborted) throw deps.signal.reason ?? new Error('aborted');
      if (s.action !== 'start-container') await applyLogged(s);
    }
    if (deps.signal?.aborted) throw deps.signal.reason ?? new Error('aborted');
    for (const s of starts.filter((s) => s.target === kmsName)) await applyLogged(s);
    if (!kmsReady) await kmsKey();
    const started = await Promise.allSettled(starts.filter((s) => s.target !== kmsName).map(applyLogged));
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    if (plan.steps.length > 0) progress.step('waiting for every node to answer');
    await waitForApis(rendered, deps, opts.readyTimeoutMs ?? 60_000, clientTlsFromState(spec, state));
    if (monitoring) {
      progress.step(`waiting for Prometheus on ${monitoring.address}`);
      await waitForPrometheus(spec, deps, opts.readyTimeoutMs ?? 60_000);
    }
  } catch (err) {
    await rollback(runtime, created, progress);
    throw err;
  }
  // Remembered only once applied: a run that failed (an image that could not be pulled) must not
  // make the next plain `up` plan with what failed.
  state.saveSpec(spec);
  if (reported.steps.length > 0)
    progress.done(`cluster ${spec.name}: ${reported.steps.length} step(s) applied`);
  return {
    spec,
    stateDir: state.root,
    localSteps,
    plan: reported,
    dryRun,
    image: { ref: spec.image, pulled },
    nodes,
    ...(endpoint ? { endpoint } : {}),
    ...(monitoring ? { monitoring } : {}),
    ...(unsealerDone ? { unsealer: unsealerDone } : {}),
  };
}

/** Removes, newest first, what this run created. Volumes created now hold no data worth keeping. */
async function rollback(
  runtime: ContainerRuntime,
  created: { kind: 'container' | 'volume' | 'network'; name: string }[],
  progress: Progress,
): Promise<void> {
  if (created.length === 0) return;
  progress.warn(`rolling back: removing ${created.length} resource(s) created by this run`);
  for (const r of [...created].reverse()) {
    try {
      if (r.kind === 'container') await runtime.removeContainer(r.name);
      else if (r.kind === 'volume') await runtime.removeVolume(r.name);
      else await runtime.removeNetwork(r.name);
    } catch (err) {
      progress.warn(`could not remove ${r.kind} ${r.name}: ${errorMessage(err)}`);
    }
  }
}
