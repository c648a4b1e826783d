/**
 * `upCluster`: observe, plan, apply, through the reconciler (cluster/reconcile). Idempotent: a
 * second run finds nothing to do. A run that fails or is cancelled half-way removes what it
 * created in that run, the unsealer's container and volume included (never volumes that existed
 * before). Start orders (dev KMS, unsealer, then the nodes) are plan data (reconcile/order.ts).
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { AGENT_DIR } from '../agent/status.js';
import type { Progress } from '../cluster/events.js';
import type { Clock } from '../cluster/poll.js';
import { applyPlan } from '../cluster/reconcile/apply.js';
import { observeCluster } from '../cluster/reconcile/observe.js';
import type { Observed, UpPlan } from '../cluster/reconcile/plan.js';
import { planUp } from '../cluster/reconcile/plan.js';
import { UsageError } from '../errors.js';
import { buildAgentImage } from '../image/agent-image.js';
import type { ContainerRuntime } from '../runtime/port.js';
import { devKmsContainerName } from '../spec/dev-kms-names.js';
import {
  endpointAddress,
  endpointContainerName,
  endpointStandbyAddress,
  monitoringContainerName,
  nodeAddress,
  prometheusAddress,
  unsealerContainerName,
  usesUnsealer,
} from '../spec/names.js';
import type { ClusterSpec } from '../spec/schema.js';
import type { StateDir } from '../state/state-dir.js';
import { agentContainerName, agentDirDestinations } from '../templates/agent.js';
import { renderCluster } from '../templates/render.js';
import type { RenderedCluster } from '../templates/rendered.js';
import { clientTlsFromState, ensureTls } from '../tls/tls.js';
import { prepareUnsealer, transitNodeToken, withTransitToken } from '../unsealer/unsealer.js';
import type { VaultConnector } from '../vault/port.js';
import {
  ensureImage,
  haproxyImageHint,
  preferLocalImages,
  prometheusImageHint,
  serverImageHint,
} from './images.js';
import { recreateNodesOneByOne } from './rolling.js';
import { checkAwsCredentialsFile, checkPorts, refuseConflicts } from './up-checks.js';
import { upGates } from './up-gates.js';

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

type Addresses = Pick<UpResult, 'nodes' | 'endpoint' | 'monitoring'>;

/** Where the cluster answers on the host once up. */
function addresses(spec: ClusterSpec): Addresses {
  const endpointAt = endpointAddress(spec);
  const standbyAt = endpointStandbyAddress(spec);
  return {
    nodes: spec.nodes.map((n) => ({ name: n.name, address: nodeAddress(spec, n) })),
    ...(endpointAt
      ? {
          endpoint: {
            address: endpointAt,
            ...(standbyAt ? { standbyAddress: standbyAt } : {}),
            image: spec.endpoint.image,
          },
        }
      : {}),
    ...(spec.monitoring.enabled
      ? { monitoring: { address: prometheusAddress(spec), image: spec.monitoring.image } }
      : {}),
  };
}

/**
 * The cluster as rendered for `up`. The transit token reaches the nodes through their environment
 * only: the unsealer's from the state dir (issued by its gate when missing), an external server's
 * from a file or the environment.
 */
function renderForUp(spec: ClusterSpec, state: StateDir, dryRun: boolean): RenderedCluster {
  const rendered = renderCluster(spec, state.root);
  const token = spec.seal.type === 'transit' ? transitNodeToken(spec, state, process.env) : undefined;
  if (spec.seal.type === 'transit' && !usesUnsealer(spec) && !token && !dryRun) {
    throw new UsageError(
      'starting the cluster',
      `the transit seal at ${spec.seal.transit?.address} needs a token for the nodes, and none was given`,
      'put it in a file named by seal.transit.tokenFile (0600), or export VAULTCTL_TRANSIT_TOKEN; its policy needs update on <mount>/encrypt/<key>, <mount>/decrypt/<key> and auth/token/renew-self',
    );
  }
  checkAwsCredentialsFile(spec);
  return token ? withTransitToken(rendered, token) : rendered;
}

/** The local steps a dry run reports: what the state dir lacks. */
function plannedLocalSteps(spec: ClusterSpec, state: StateDir): LocalStep[] {
  if (state.exists()) return [];
  return [
    { action: 'create-state-dir', target: state.root, reason: 'missing' },
    ...(spec.seal.type === 'static'
      ? [
          {
            action: 'generate-seal-key' as const,
            target: state.sealKeyFile,
            reason: 'static seal needs a 32-byte key',
          },
        ]
      : []),
  ];
}

/** Local preparation: idempotent and never destructive (keys are created once, never replaced). */
async function prepareLocal(
  rendered: RenderedCluster,
  state: StateDir,
  deps: UpDeps,
  localSteps: LocalStep[],
): Promise<void> {
  const spec = rendered.spec;
  state.ensure();
  if (spec.seal.type === 'static' && state.ensureSealKey()) {
    deps.progress.info(
      `generated the static seal key ${state.sealKeyFile} (0600); back it up: without it the data cannot be unsealed`,
    );
    if (!localSteps.some((s) => s.action === 'generate-seal-key'))
      localSteps.push({ action: 'generate-seal-key', target: state.sealKeyFile, reason: 'missing' });
  }
  const tls = await ensureTls(spec, state, deps.progress);
  if (tls.createdCa)
    localSteps.push({ action: 'create-ca', target: 'tls/ca.pem', reason: 'TLS needs a cluster CA' });
  for (const n of tls.issued)
    localSteps.push({
      action: 'issue-certificate',
      target: n,
      reason: 'missing, expiring or for other names',
    });
  if (spec.agent.enabled) prepareAgentDirs(spec, state);
  for (const f of state.writeRendered(rendered))
    localSteps.push({ action: 'write-file', target: f, reason: 'rendered from the spec' });
  if (usesUnsealer(spec)) await prepareUnsealer(rendered, state, deps);
}

/**
 * What the agent container bind-mounts must exist before it is created: its own `agent/` dir
 * (token, status, staging; 0700) and each directory destination (0700, made when missing).
 */
function prepareAgentDirs(spec: ClusterSpec, state: StateDir): void {
  for (const d of [join(state.root, AGENT_DIR), ...agentDirDestinations(spec)])
    if (!existsSync(d)) mkdirSync(d, { recursive: true, mode: 0o700 });
}

/** Pulls (or checks) the image of every kind of container the plan creates; true when the server image was pulled. */
async function pullImages(spec: ClusterSpec, plan: UpPlan, deps: UpDeps): Promise<boolean> {
  const creates = new Set(plan.steps.filter((s) => s.action === 'create-container').map((s) => s.target));
  const side = new Map<string, [string, string]>([
    [endpointContainerName(spec), [spec.endpoint.image, haproxyImageHint(spec)]],
    [
      devKmsContainerName(spec.name),
      [
        spec.seal.devKms.image,
        'build it from moto[server]: bash scripts/setup.sh (or vaultctl image build --moto DIR)',
      ],
    ],
    [monitoringContainerName(spec), [spec.monitoring.image, prometheusImageHint(spec)]],
  ]);
  const pulled = [...creates].some((n) => !side.has(n) && n !== agentContainerName(spec))
    ? await ensureImage(spec.image, serverImageHint(spec), deps)
    : false;
  for (const [name, [image, hint]] of side) if (creates.has(name)) await ensureImage(image, hint, deps);
  // The agent's image is never pulled: built here from this host's node and the built project.
  if (creates.has(agentContainerName(spec)) && !(await deps.runtime.imageExists(spec.agent.image)))
    await buildAgentImage(spec.agent.image, deps);
  return pulled;
}

/**
 * Before the plan is applied: the helper image that hands volumes to the service uid, and the
 * nodes of a serving cluster that must be recreated (a changed config, or containers an earlier
 * release made without the security profile) recreated one at a time (lifecycle/rolling.ts); the
 * rest is planned again. Returns what to apply and the steps the rolling recreation did.
 */
async function rollServingNodes(
  rendered: RenderedCluster,
  plan: UpPlan,
  observed: Observed,
  state: StateDir,
  deps: UpDeps,
  opts: UpOptions,
) {
  const spec = rendered.spec;
  if (plan.steps.some((s) => s.action === 'create-container'))
    await ensureImage(
      spec.security.helperImage,
      'build it from busybox-static: bash scripts/setup.sh (or vaultctl image build --busybox)',
      deps,
    );
  const rolled = await recreateNodesOneByOne(rendered, plan, state, deps, {
    tls: clientTlsFromState(spec, state),
    nodeTimeoutMs: (opts.readyTimeoutMs ?? 60_000) * 2,
  });
  if (rolled.length === 0) return { plan, observed, rolled: [] };
  const now = await observeCluster(deps.runtime, rendered);
  return {
    plan: planUp(rendered, now),
    observed: now,
    rolled: plan.steps.filter((s) => rolled.includes(s.target)),
  };
}

export async function upCluster(
  requested: ClusterSpec,
  state: StateDir,
  deps: UpDeps,
  opts: UpOptions = {},
): Promise<UpResult> {
  const dryRun = opts.dryRun ?? false;
  await deps.runtime.ping(deps.signal);
  const spec = await preferLocalImages(requested, deps);
  const rendered = renderForUp(spec, state, dryRun);
  const observed = await observeCluster(deps.runtime, rendered);
  refuseConflicts(spec, state, observed);
  const plan = planUp(rendered, observed);
  for (const o of plan.orphans)
    deps.progress.warn(`container ${o} carries this cluster's label but is not in the spec; left alone`);
  const localSteps = plannedLocalSteps(spec, state);
  const base = { spec, stateDir: state.root, localSteps, dryRun, ...addresses(spec) };
  if (dryRun) return { ...base, plan, image: { ref: spec.image, pulled: false } };

  await checkPorts(rendered, plan, deps.portIsFree);
  await prepareLocal(rendered, state, deps, localSteps);
  const pulled = await pullImages(spec, plan, deps);
  const toApply = await rollServingNodes(rendered, plan, observed, state, deps, opts);
  let unsealer: UpResult['unsealer'];
  const gates = upGates(spec, state, deps, opts.readyTimeoutMs ?? 60_000, (u) => {
    unsealer = { address: u.address, actions: u.actions };
  });
  const applied = await applyPlan(toApply.plan, toApply.observed, { ...deps, gates });
  // The unsealer's own steps are reported in `unsealer.actions`, as before the reconciler.
  const own = usesUnsealer(spec) ? unsealerContainerName(spec) : undefined;
  const steps = [...toApply.rolled, ...applied.plan.steps].filter((s) => s.target !== own);
  const done = { ...applied.plan, steps };
  // Remembered only once applied: a run that failed (an image that could not be pulled) must not
  // make the next plain `up` plan with what failed.
  state.saveSpec(spec);
  if (done.steps.length > 0) deps.progress.done(`cluster ${spec.name}: ${done.steps.length} step(s) applied`);
  return { ...base, plan: done, image: { ref: spec.image, pulled }, ...(unsealer ? { unsealer } : {}) };
}
