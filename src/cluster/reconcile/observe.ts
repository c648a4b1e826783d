/** Observing a cluster: what exists, found by the label `io.vaultctl.cluster=<name>`. */
import type { ContainerRuntime } from '../../runtime/port.js';
import { clusterLabels } from '../../spec/names.js';
import type { RenderedCluster } from '../../templates/rendered.js';
import type { Observed } from './plan.js';

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
