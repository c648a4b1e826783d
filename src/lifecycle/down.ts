/**
 * `downCluster`: removes the containers and network of a cluster. Data volumes go only with
 * `volumes`, the state dir (keys!) only with `purge`; the command asks before either.
 */

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Progress } from '../cluster/events.js';
import { type Created, removeResource } from '../cluster/reconcile/resources.js';
import { UsageError } from '../errors.js';
import type { ContainerRuntime } from '../runtime/port.js';
import { LABELS } from '../runtime/port.js';
import type { StateDir } from '../state/state-dir.js';
import { UNSEALER_FILES, UNSEALER_VOLUME_KIND } from '../unsealer/render.js';

export interface DownOptions {
  readonly volumes?: boolean;
  readonly purge?: boolean;
  readonly dryRun?: boolean;
}

export interface DownResult {
  readonly containers: readonly string[];
  readonly networks: readonly string[];
  readonly volumes: readonly string[];
  readonly keptVolumes: readonly string[];
  readonly purged: string | undefined;
}

export async function downCluster(
  cluster: string,
  state: StateDir,
  deps: { runtime: ContainerRuntime; progress: Progress },
  opts: DownOptions = {},
): Promise<DownResult> {
  const { runtime, progress } = deps;
  const labels = { [LABELS.cluster]: cluster };
  await runtime.ping();
  const [containers, networks, volumes] = await Promise.all([
    runtime.listContainers(labels),
    runtime.listNetworks(labels),
    runtime.listVolumes(labels),
  ]);
  // The state dir holds the only keys that unseal the data volumes: removing it while they stay
  // would leave data nothing can open (and a later `up` would make new keys that cannot either).
  // The unsealer's volume counts as data: its transit key is what unseals the cluster's data, and
  // its own static key (unsealer/seal.key) lives in the state dir.
  const dataVolumes = volumes.filter(
    (v) => v.labels[LABELS.kind] === 'data' || v.labels[LABELS.kind] === UNSEALER_VOLUME_KIND,
  );
  if (
    opts.purge &&
    !opts.volumes &&
    dataVolumes.length > 0 &&
    (existsSync(state.sealKeyFile) ||
      existsSync(state.initFile) ||
      existsSync(join(state.root, UNSEALER_FILES.sealKey)))
  ) {
    throw new UsageError(
      `removing the state dir of cluster ${cluster}`,
      `its ${dataVolumes.length} data volume(s) would stay behind without the keys that unseal them; nothing was removed`,
      'add --volumes to remove the data too, or keep the state dir (back it up before removing it by hand)',
    );
  }
  const result: DownResult = {
    containers: containers.map((c) => c.name),
    networks: networks.map((n) => n.name),
    volumes: opts.volumes ? volumes.map((v) => v.name) : [],
    keptVolumes: opts.volumes ? [] : volumes.map((v) => v.name),
    purged: opts.purge && state.exists() ? state.root : undefined,
  };
  if (opts.dryRun) return result;
  const removals: Created[] = [
    ...containers.map((c) => ({ kind: 'container' as const, name: c.name })),
    ...networks.map((n) => ({ kind: 'network' as const, name: n.name })),
    ...(opts.volumes ? volumes.map((v) => ({ kind: 'volume' as const, name: v.name })) : []),
  ];
  for (const r of removals) {
    progress.step(`removing ${r.kind} ${r.name}`);
    await removeResource(runtime, r);
  }
  if (result.purged) {
    progress.step(`removing the state dir ${state.root}`);
    state.purge();
  }
  progress.done(`cluster ${cluster} is down`);
  return result;
}
