/** The vaultctl library: use cases and types for programs that drive a cluster themselves. */
export { bootstrapCluster } from './bootstrap/bootstrap.js';
export * from './errors.js';
export type { ClusterHealth, NodeHealth, Verdict } from './health/health.js';
export { checkHealth, judgeHealth, waitForHealth } from './health/health.js';
export { buildServerImage } from './image/image.js';
export { downCluster } from './lifecycle/down.js';
export { upCluster } from './lifecycle/up.js';
export { DockerRuntime } from './runtime/docker.js';
export type { ContainerRuntime } from './runtime/port.js';
export { loadSpec } from './spec/load.js';
export { resolveSpec } from './spec/resolve.js';
export type { ClusterSpec, NodeSpec, SpecInput } from './spec/schema.js';
export { StateDir } from './state/state-dir.js';
export { renderCluster } from './templates/render.js';
export type { RenderedCluster } from './templates/rendered.js';
export { connectVaultNode, VaultNodeApi } from './vault/api.js';
export type { VaultConnector, VaultNode } from './vault/port.js';
export { VaultRequestError } from './vault/port.js';
