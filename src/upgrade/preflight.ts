/**
 * The upgrade's preflight, before any node is touched: the target spec (the cluster's saved spec
 * input with the target image or version, validated by `resolveSpec` like any spec, so the seal
 * and version rules apply), the target's version read from its binary, each node's version and
 * container, a downgrade refused, and a healthy cluster that can lose one node.
 */
import type { Progress } from '../cluster/events.js';
import type { RunningCluster } from '../cluster/running.js';
import { UsageError } from '../errors.js';
import { type ClusterHealth, checkHealth } from '../health/health.js';
import { ensureImage, preferLocalImages, serverImageHint } from '../lifecycle/images.js';
import type { ContainerRuntime, ContainerSpec } from '../runtime/port.js';
import { LABELS } from '../runtime/port.js';
import { clusterLabels, containerName } from '../spec/names.js';
import { resolveSpec } from '../spec/resolve.js';
import type { ClusterSpec } from '../spec/schema.js';
import { compareVersions } from '../spec/version.js';
import type { StateDir } from '../state/state-dir.js';
import { renderCluster } from '../templates/render.js';
import type { RenderedCluster } from '../templates/rendered.js';
import type { NodeState } from './plan.js';
import { type ImageVersion, readImageVersion } from './version.js';

/** What to upgrade to: an image, or a server version whose (local or upstream) image is used. */
export type UpgradeTarget = { readonly image: string } | { readonly version: string };

export interface PreflightDeps {
  readonly cluster: RunningCluster;
  readonly runtime: ContainerRuntime;
  readonly progress: Progress;
  readonly signal?: AbortSignal | undefined;
}

export interface NodeFacts extends NodeState {
  readonly version: string | undefined;
  /** The image its container runs now. */
  readonly image: string | undefined;
  /** The container the target spec renders for it. */
  readonly target: ContainerSpec;
}

export interface Preflight {
  readonly spec: ClusterSpec;
  readonly state: StateDir;
  readonly targetSpec: ClusterSpec;
  readonly rendered: RenderedCluster;
  readonly target: ImageVersion & { readonly image: string };
  readonly nodes: readonly NodeFacts[];
  readonly health: ClusterHealth;
  readonly token: string;
}

type Json = Record<string, unknown>;

/** The saved spec input with the target instead of the current image and version. */
export function targetInput(input: Json, target: UpgradeTarget): Json {
  const { image: _image, version: _version, ...rest } = input;
  return 'image' in target ? { ...rest, image: target.image } : { ...rest, version: target.version };
}

const DOING = 'checking the upgrade';

/** Everything the upgrade needs to know, or a refusal (UsageError/ConfigError: nothing touched). */
export async function preflight(target: UpgradeTarget, deps: PreflightDeps): Promise<Preflight> {
  const { cluster, runtime, progress } = deps;
  const spec = cluster.spec;
  const state = cluster.state;
  if (!spec || !state)
    throw new UsageError(
      DOING,
      'the cluster is known only by its addresses',
      'run it on a cluster vaultctl manages',
    );
  await runtime.ping(deps.signal);

  progress.step('checking the target spec');
  const resolved = resolveSpec(
    targetInput(spec.input as Json, target),
    `checking the cluster spec with ${'image' in target ? `image ${target.image}` : `server version ${target.version}`}`,
  );
  for (const w of resolved.warnings) progress.debug(w);
  const targetSpec = await preferLocalImages(resolved.spec, { runtime, progress });
  await ensureImage(targetSpec.image, serverImageHint(targetSpec), deps);
  progress.step(`reading the server version of ${targetSpec.image}`);
  const version = await readImageVersion(runtime, targetSpec.image, targetSpec.flavor);
  if ('version' in target && compareVersions(version.version, target.version) !== 0)
    throw new UsageError(
      DOING,
      `the image ${targetSpec.image} runs ${version.version}, not ${target.version}`,
      'build the image of that version (scripts/setup.sh, vaultctl image build) or give --image',
    );

  const token = await cluster.token();
  if (!token)
    throw new UsageError(
      DOING,
      'no token: the state dir holds no root token and BAO_TOKEN/VAULT_TOKEN is not set',
      'run `vaultctl init` first, or export a token',
    );
  cluster.useToken(token);
  const health = await checkHealth(
    cluster.nodes.map((n) => ({ name: n.name, address: n.address })),
    cluster.expectedVoters,
    {
      connect: cluster.connector,
      token,
      tls: cluster.tls,
      ...(cluster.endpoint ? { endpoint: cluster.endpoint.address } : {}),
    },
  );

  const rendered = renderCluster(targetSpec, state.root);
  const containers = await runtime.listContainers(clusterLabels(spec));
  const nodes: NodeFacts[] = spec.nodes.map((n) => {
    const name = containerName(spec, n);
    const want = rendered.containers.find((c) => c.name === name);
    if (!want)
      throw new UsageError(
        DOING,
        `the target spec has no container ${name}`,
        'the node list must not change in an upgrade',
      );
    const have = containers.find((c) => c.name === name);
    const h = health.nodes.find((x) => x.name === n.name);
    return {
      name: n.name,
      upgraded: have?.labels[LABELS.configHash] === want.labels[LABELS.configHash],
      active: h?.active === true,
      version: h?.version,
      image: have?.image,
      target: want,
    };
  });

  const newer = nodes.filter((n) => n.version && compareVersions(n.version, version.version) > 0);
  if (newer.length > 0)
    throw new UsageError(
      'refusing the upgrade',
      `${version.version} is older than what ${newer.map((n) => `${n.name} runs (${n.version})`).join(', ')}: a downgrade may not read data a newer version wrote`,
      'nothing was touched; to go back, restore a snapshot saved on the older version into a cluster of that version',
    );
  return {
    spec,
    state,
    targetSpec,
    rendered,
    target: { ...version, image: targetSpec.image },
    nodes,
    health,
    token,
  };
}

/** Refuses (nothing touched) unless the cluster is healthy and can lose one node. */
export function requireHealthy(health: ClusterHealth): void {
  const problems = [...health.reasons];
  const tolerance = health.raft?.failureTolerance;
  if (health.verdict === 'healthy') {
    if (health.raft?.autopilotHealthy !== true)
      problems.push('autopilot does not report the cluster healthy');
    if (tolerance === undefined || tolerance < 1)
      problems.push(`failure tolerance ${tolerance ?? 'unknown'}: recreating one node would lose quorum`);
  }
  if (health.verdict !== 'healthy' || problems.length > 0)
    throw new UsageError(
      'refusing the upgrade',
      `the cluster is not healthy: ${problems.join('; ') || health.verdict}`,
      'nothing was touched; `vaultctl health` shows every node: bring it back (vaultctl up, vaultctl unseal) and run the upgrade again',
    );
}
