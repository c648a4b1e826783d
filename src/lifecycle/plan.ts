/**
 * Reconciliation: compare what exists with what the spec renders, and list the small steps that
 * close the gap, each with its reason. Pure: `upCluster` observes, calls `planUp`, applies.
 */
import type { ContainerInfo, ContainerSpec, ResourceInfo } from '../runtime/port.js';
import { LABELS } from '../runtime/port.js';
import type { RenderedCluster } from '../templates/rendered.js';

export type PlanAction =
  | 'create-network'
  | 'create-volume'
  | 'remove-container'
  | 'create-container'
  | 'start-container'
  | 'unpause-container';

export interface PlanStep {
  readonly action: PlanAction;
  readonly target: string;
  readonly reason: string;
  /** For create-container: the spec to create. */
  readonly container?: ContainerSpec;
  readonly labels?: Readonly<Record<string, string>>;
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
  /** Containers labelled with this cluster that the spec no longer has: left alone, reported. */
  readonly orphans: readonly string[];
}

export function planUp(rendered: RenderedCluster, observed: Observed): UpPlan {
  const steps: PlanStep[] = [];
  if (!observed.networks.some((n) => n.name === rendered.network.name)) {
    steps.push({
      action: 'create-network',
      target: rendered.network.name,
      reason: 'missing',
      labels: rendered.network.labels,
    });
  }
  for (const v of rendered.volumes) {
    if (!observed.volumes.some((o) => o.name === v.name)) {
      steps.push({ action: 'create-volume', target: v.name, reason: 'missing', labels: v.labels });
    }
  }
  for (const c of rendered.containers) {
    const found = observed.containers.find((o) => o.name === c.name);
    if (!found) {
      steps.push({ action: 'create-container', target: c.name, reason: 'missing', container: c });
      steps.push({ action: 'start-container', target: c.name, reason: 'new container' });
      continue;
    }
    const want = c.labels[LABELS.configHash];
    const have = found.labels[LABELS.configHash];
    if (want !== have) {
      const why =
        found.image !== c.image ? `image changed (${found.image} -> ${c.image})` : 'configuration changed';
      steps.push({ action: 'remove-container', target: c.name, reason: `${why}; volumes are kept` });
      steps.push({ action: 'create-container', target: c.name, reason: why, container: c });
      steps.push({ action: 'start-container', target: c.name, reason: 'recreated' });
      continue;
    }
    if (found.state === 'paused') {
      steps.push({ action: 'unpause-container', target: c.name, reason: 'paused' });
    } else if (found.state !== 'running' && found.state !== 'restarting') {
      steps.push({ action: 'start-container', target: c.name, reason: `state is ${found.state}` });
    }
  }
  const wanted = new Set(rendered.containers.map((c) => c.name));
  const orphans = observed.containers.filter((c) => !wanted.has(c.name)).map((c) => c.name);
  return { steps, orphans };
}

export function describeStep(s: PlanStep): string {
  const verb = s.action.replace('-', ' ');
  return `${verb} ${s.target} (${s.reason})`;
}
