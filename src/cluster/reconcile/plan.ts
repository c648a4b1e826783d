/**
 * The plan: compare what exists (`Observed`, found by label) with what the spec renders, and list
 * the small steps that close the gap as a graph: each step has an id, its reason and the ids it
 * depends on. Pure. Readiness gates (order.ts) are nodes of the same graph; they change nothing by
 * themselves, so they are kept apart from `steps` (a cluster that is up to date has no steps).
 */
import type { ContainerInfo, ContainerSpec, ResourceInfo } from '../../runtime/port.js';
import { LABELS } from '../../runtime/port.js';
import type { RenderedCluster } from '../../templates/rendered.js';
import { NEEDS, READY_GATES } from './order.js';

export type PlanAction =
  | 'create-network'
  | 'create-volume'
  | 'stop-container'
  | 'remove-container'
  | 'create-container'
  | 'start-container'
  | 'unpause-container';

export interface PlanStep {
  /** `<action>:<target>`, unique in a plan. */
  readonly id: string;
  readonly action: PlanAction;
  readonly target: string;
  readonly reason: string;
  /** Ids of the steps and gates that must be done first. */
  readonly dependsOn: readonly string[];
  /** For create-container: the spec to create. */
  readonly container?: ContainerSpec;
  readonly labels?: Readonly<Record<string, string>>;
}

/** A readiness check of one container (order.ts), run by the caller's `Gates` once it is started. */
export interface PlanGate {
  /** `ready:<container>`. */
  readonly id: string;
  readonly target: string;
  /** The container's kind: which gate function checks it. */
  readonly kind: string;
  readonly reason: string;
  readonly dependsOn: readonly string[];
}

export interface Observed {
  readonly containers: readonly ContainerInfo[];
  readonly networks: readonly ResourceInfo[];
  readonly volumes: readonly ResourceInfo[];
  /** Containers with one of our names that vaultctl does not manage (no cluster label). */
  readonly foreignNames: readonly string[];
}

export interface UpPlan {
  readonly steps: readonly PlanStep[];
  readonly gates: readonly PlanGate[];
  /** Containers labelled with this cluster that the spec no longer has: left alone, reported. */
  readonly orphans: readonly string[];
}

export interface PlanOptions {
  /** Stop a running container (30 s, graceful) before it is removed to be recreated. */
  readonly gracefulStop?: boolean;
}

const kindOf = (c: ContainerSpec) => c.labels[LABELS.kind] ?? '';

/** The steps one container needs, without dependencies yet. */
function containerSteps(
  c: ContainerSpec,
  found: ContainerInfo | undefined,
  opts: PlanOptions,
): Omit<PlanStep, 'id' | 'dependsOn'>[] {
  if (!found)
    return [
      { action: 'create-container', target: c.name, reason: 'missing', container: c },
      { action: 'start-container', target: c.name, reason: 'new container' },
    ];
  const want = c.labels[LABELS.configHash];
  if (want !== found.labels[LABELS.configHash]) {
    const why =
      found.image !== c.image ? `image changed (${found.image} -> ${c.image})` : 'configuration changed';
    return [
      ...(opts.gracefulStop && found.state === 'running'
        ? [{ action: 'stop-container' as const, target: c.name, reason: `${why}; stopped gracefully first` }]
        : []),
      { action: 'remove-container', target: c.name, reason: `${why}; volumes are kept` },
      { action: 'create-container', target: c.name, reason: why, container: c },
      { action: 'start-container', target: c.name, reason: 'recreated' },
    ];
  }
  if (found.state === 'paused') return [{ action: 'unpause-container', target: c.name, reason: 'paused' }];
  if (found.state !== 'running' && found.state !== 'restarting')
    return [{ action: 'start-container', target: c.name, reason: `state is ${found.state}` }];
  return [];
}

/** What a container step waits for: its network and volumes, its earlier steps, the gates its kind needs. */
function containerDeps(
  s: Omit<PlanStep, 'id' | 'dependsOn'>,
  c: ContainerSpec,
  earlier: readonly string[],
  ids: ReadonlySet<string>,
  gates: readonly PlanGate[],
): string[] {
  const needs = NEEDS[kindOf(c)] ?? [];
  const deps = [...earlier, ...gates.filter((g) => needs.includes(g.kind)).map((g) => g.id)];
  if (s.action === 'create-container') {
    deps.push(`create-network:${c.network.name}`);
    for (const m of c.mounts) if (m.type === 'volume') deps.push(`create-volume:${m.name}`);
  }
  return deps.filter((d) => ids.has(d));
}

export function planUp(rendered: RenderedCluster, observed: Observed, opts: PlanOptions = {}): UpPlan {
  const raw: Omit<PlanStep, 'id' | 'dependsOn'>[] = [];
  if (!observed.networks.some((n) => n.name === rendered.network.name))
    raw.push({
      action: 'create-network',
      target: rendered.network.name,
      reason: 'missing',
      labels: rendered.network.labels,
    });
  for (const v of rendered.volumes)
    if (!observed.volumes.some((o) => o.name === v.name))
      raw.push({ action: 'create-volume', target: v.name, reason: 'missing', labels: v.labels });
  const perContainer = rendered.containers.map((c) => ({
    c,
    steps: containerSteps(
      c,
      observed.containers.find((o) => o.name === c.name),
      opts,
    ),
  }));
  const gates: PlanGate[] = rendered.containers
    .filter((c) => READY_GATES[kindOf(c)] !== undefined)
    .map((c) => {
      const own = perContainer
        .find((p) => p.c === c)!
        .steps.filter((s) => /^(start|unpause)-/.test(s.action));
      return {
        id: `ready:${c.name}`,
        target: c.name,
        kind: kindOf(c),
        reason: READY_GATES[kindOf(c)]!,
        dependsOn: own.map((s) => `${s.action}:${c.name}`),
      };
    });
  const ids = new Set([
    ...raw.map((s) => `${s.action}:${s.target}`),
    ...perContainer.flatMap((p) => p.steps.map((s) => `${s.action}:${s.target}`)),
    ...gates.map((g) => g.id),
  ]);
  const steps: PlanStep[] = raw.map((s) => ({ ...s, id: `${s.action}:${s.target}`, dependsOn: [] }));
  for (const { c, steps: own } of perContainer) {
    own.forEach((s, i) => {
      const earlier = i > 0 ? [`${own[i - 1]!.action}:${c.name}`] : [];
      steps.push({
        ...s,
        id: `${s.action}:${s.target}`,
        dependsOn: containerDeps(s, c, earlier, ids, gates),
      });
    });
  }
  const wanted = new Set(rendered.containers.map((c) => c.name));
  const orphans = observed.containers.filter((c) => !wanted.has(c.name)).map((c) => c.name);
  return { steps, gates, orphans };
}

/** A plan restricted to some containers (and the network and volumes they use). */
export function onlyContainers(rendered: RenderedCluster, names: readonly string[]): RenderedCluster {
  const containers = rendered.containers.filter((c) => names.includes(c.name));
  const mounted = new Set(
    containers.flatMap((c) => c.mounts.flatMap((m) => (m.type === 'volume' ? [m.name] : []))),
  );
  return { ...rendered, containers, volumes: rendered.volumes.filter((v) => mounted.has(v.name)) };
}

export function describeStep(s: PlanStep): string {
  const verb = s.action.replace('-', ' ');
  return `${verb} ${s.target} (${s.reason})`;
}

/** One line of the graph, as `up --dry-run` prints it: the step and what it waits for. */
export function describeGraphStep(s: PlanStep | PlanGate): string {
  const what = 'action' in s ? describeStep(s) : `wait until ${s.target} is ready (${s.reason})`;
  const after = s.dependsOn.map((d) =>
    d.startsWith('ready:') ? `${d.slice('ready:'.length)} ready` : d.replace(/^([a-z]+)-([a-z]+):/, '$1 $2 '),
  );
  return after.length > 0 ? `${what}; after: ${after.join(', ')}` : what;
}
