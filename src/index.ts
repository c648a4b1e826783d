/** The vaultctl library: use cases and types for programs that drive a cluster themselves. */
export { bootstrapCluster } from './cluster/bootstrap.js';
export { downCluster } from './cluster/down.js';
export type { ClusterHealth, NodeHealth, Verdict } from './cluster/health.js';
export { checkHealth, judgeHealth, waitForHealth } from './cluster/health.js';
export { buildServerImage } from './cluster/image.js';
export type { RenderedCluster } from './cluster/render.js';
export { renderCluster } from './cluster/render.js';
export type { ClusterSpec, NodeSpec, SpecInput } from './cluster/spec.js';
export { loadSpec, resolveSpec } from './cluster/spec.js';
export { StateDir } from './cluster/state.js';
export { upCluster } from './cluster/up.js';
export * from './errors.js';
export { DockerRuntime } from './runtime/docker.js';
export type { ContainerRuntime } from './runtime/port.js';
export { VaultNodeApi, VaultRequestError } from './vault/api.js';
