/**
 * Names and addresses derived from the spec: container, network and volume names, labels, the
 * host-side API address of each node. One place, so no layer rebuilds them its own way.
 */
import { join } from 'node:path';
import { LABELS } from '../runtime/port.js';
import type { ClusterSpec, NodeSpec } from './schema.js';

export function apiScheme(spec: ClusterSpec): 'http' | 'https' {
  return spec.tls.enabled ? 'https' : 'http';
}

export const COMPOSE_FILE = 'docker-compose.vault.yml';
export const SEAL_KEY_FILE = 'seal.key';

export function containerName(spec: ClusterSpec, node: NodeSpec | string): string {
  return `${spec.name}-${typeof node === 'string' ? node : node.name}`;
}

export function networkName(spec: ClusterSpec): string {
  return `${spec.name}-net`;
}

export function volumeName(spec: ClusterSpec, node: NodeSpec, kind: 'data' | 'logs'): string {
  return `${spec.name}-${node.name}-${kind}`;
}

export function clusterLabels(spec: ClusterSpec): Record<string, string> {
  return { [LABELS.cluster]: spec.name };
}

export const MONITORING_DIR = 'monitoring';
export const METRICS_TOKEN_FILE = 'metrics-token';
/** Prometheus listens here inside its container; `monitoring.port` is published on 127.0.0.1. */
export const CONTAINER_PROMETHEUS_PORT = 9090;

export function monitoringContainerName(spec: ClusterSpec): string {
  return `${spec.name}-prometheus`;
}

/** Host-side address of the cluster's Prometheus (`up --monitoring`). */
export function prometheusAddress(spec: ClusterSpec): string {
  return `http://127.0.0.1:${spec.monitoring.port}`;
}

export function nodeConfigDir(node: NodeSpec): string {
  return join('nodes', node.name);
}

/** Host-side address of a node's API. */
export function nodeAddress(spec: ClusterSpec, node: NodeSpec): string {
  // 0.0.0.0 is a bind address, not one to connect to; the loopback reaches it.
  const host = spec.bindAddress === '0.0.0.0' ? '127.0.0.1' : spec.bindAddress;
  return `${apiScheme(spec)}://${host}:${node.apiPort}`;
}

export const ENDPOINT_DIR = 'endpoint';
/** Inside the endpoint container: the active-node frontend, the standby-reads one, HAProxy's metrics. */
export const CONTAINER_ENDPOINT_PORTS = { active: 8200, standby: 8300, metrics: 8404 } as const;

export function endpointContainerName(spec: ClusterSpec): string {
  return `${spec.name}-endpoint`;
}

/** Host-side address of the active-node endpoint (undefined when the spec turns it off). */
export function endpointAddress(spec: ClusterSpec): string | undefined {
  if (!spec.endpoint.enabled) return undefined;
  const host = spec.bindAddress === '0.0.0.0' ? '127.0.0.1' : spec.bindAddress;
  return `${apiScheme(spec)}://${host}:${spec.endpoint.port}`;
}

/** Host-side address of the endpoint over every unsealed node (only with standby reads). */
export function endpointStandbyAddress(spec: ClusterSpec): string | undefined {
  if (!spec.endpoint.enabled || spec.endpoint.standbyPort === undefined) return undefined;
  const host = spec.bindAddress === '0.0.0.0' ? '127.0.0.1' : spec.bindAddress;
  return `${apiScheme(spec)}://${host}:${spec.endpoint.standbyPort}`;
}

/**
 * Inside every node: a metrics-only listener. Standbys forward every authenticated request to the
 * active node (no standby reads), /v1/sys/metrics included, so a node's own metrics are read here
 * (unauthenticated, metrics and nothing else), published on the bind address at the port after
 * the node's API port.
 */
export const CONTAINER_METRICS_PORT = 8210;

/** Host-side address of a node's metrics listener. */
export function nodeMetricsAddress(spec: ClusterSpec, node: NodeSpec): string {
  const host = spec.bindAddress === '0.0.0.0' ? '127.0.0.1' : spec.bindAddress;
  return `${apiScheme(spec)}://${host}:${node.apiPort + 1}`;
}

/**
 * The unsealer: the OpenBao that serves the cluster's transit seal when the spec gives no transit
 * address. Its own container, volume and state (`unsealer/` in the state dir), on the cluster's
 * network as `unsealer`, published on 127.0.0.1 only (for vaultctl).
 */
export const UNSEALER_HOST = 'unsealer';
export const UNSEALER_DIR = 'unsealer';

/** True when the cluster's transit seal is served by the unsealer vaultctl runs. */
export function usesUnsealer(spec: ClusterSpec): boolean {
  return spec.seal.type === 'transit' && !spec.seal.transit?.address;
}

export function unsealerContainerName(spec: ClusterSpec): string {
  return `${spec.name}-unsealer`;
}

export function unsealerVolumeName(spec: ClusterSpec): string {
  return `${spec.name}-unsealer-data`;
}

export function unsealerPort(spec: ClusterSpec): number {
  return spec.seal.transit?.unsealerPort ?? Math.max(...spec.nodes.map((n) => n.apiPort)) + 4;
}

/** Host-side address of the unsealer (vaultctl's own way in). */
export function unsealerAddress(spec: ClusterSpec): string {
  return `${apiScheme(spec)}://127.0.0.1:${unsealerPort(spec)}`;
}

/** The transit seal's settings with their defaults; the unsealer's address inside the network. */
export function transitSettings(spec: ClusterSpec): {
  readonly address: string;
  readonly keyName: string;
  readonly mountPath: string;
  readonly tlsCaCert: string | undefined;
  readonly tokenPeriod: string;
  readonly managed: boolean;
} {
  const t = spec.seal.transit;
  return {
    address: t?.address ?? `${apiScheme(spec)}://${UNSEALER_HOST}:8200`,
    keyName: t?.keyName ?? 'vaultctl-autounseal',
    mountPath: t?.mountPath ?? 'transit/',
    tlsCaCert: t?.tlsCaCert,
    tokenPeriod: t?.tokenPeriod ?? '24h',
    managed: usesUnsealer(spec),
  };
}
