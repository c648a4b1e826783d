/**
 * The one module that creates and removes containers, volumes and networks: the reconciler's
 * steps, their rollback, and `down` all go through it.
 */

import { errorMessage } from '../../errors.js';
import type { ContainerRuntime } from '../../runtime/port.js';
import type { Progress } from '../events.js';
import type { PlanStep } from './plan.js';

export type ResourceKind = 'container' | 'volume' | 'network';

/** What a run created, newest last: what its rollback removes. */
export interface Created {
  readonly kind: ResourceKind;
  readonly name: string;
}

/** Applies one step; returns what it created, if anything. */
export async function applyStep(runtime: ContainerRuntime, s: PlanStep): Promise<Created | undefined> {
  switch (s.action) {
    case 'create-network':
      await runtime.createNetwork(s.target, s.labels ?? {});
      return { kind: 'network', name: s.target };
    case 'create-volume':
      await runtime.createVolume(s.target, s.labels ?? {});
      return { kind: 'volume', name: s.target };
    case 'create-container':
      if (!s.container) throw new Error(`internal: step ${s.id} has no container spec`);
      await runtime.createContainer(s.container);
      return { kind: 'container', name: s.target };
    case 'stop-container':
      await runtime.stopContainer(s.target, 30);
      return undefined;
    case 'remove-container':
      await runtime.removeContainer(s.target);
      return undefined;
    case 'start-container':
      await runtime.startContainer(s.target);
      return undefined;
    case 'unpause-container':
      await runtime.unpauseContainer(s.target);
      return undefined;
  }
}

/** Removes one container, volume or network (a missing one is not an error). */
export async function removeResource(runtime: ContainerRuntime, r: Created): Promise<void> {
  if (r.kind === 'container') await runtime.removeContainer(r.name);
  else if (r.kind === 'volume') await runtime.removeVolume(r.name);
  else await runtime.removeNetwork(r.name);
}

/** Removes, newest first, what a run created. Volumes created by it hold no data worth keeping. */
export async function rollback(
  runtime: ContainerRuntime,
  created: readonly Created[],
  progress: Progress,
): Promise<void> {
  if (created.length === 0) return;
  progress.warn(`rolling back: removing ${created.length} resource(s) created by this run`);
  for (const r of [...created].reverse()) {
    try {
      await removeResource(runtime, r);
    } catch (err) {
      progress.warn(`could not remove ${r.kind} ${r.name}: ${errorMessage(err)}`);
    }
  }
}
