/** What rendering produces: the files to write and the containers, network and volumes to create. */
import type { ContainerSpec } from '../runtime/port.js';
import type { ClusterSpec } from '../spec/schema.js';

export interface RenderedFile {
  /** Path relative to the output directory. */
  readonly path: string;
  readonly content: string;
}

export interface NamedResource {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
}

export interface RenderedCluster {
  readonly spec: ClusterSpec;
  readonly files: readonly RenderedFile[];
  readonly containers: readonly ContainerSpec[];
  readonly network: NamedResource;
  readonly volumes: readonly NamedResource[];
}
