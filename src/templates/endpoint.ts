/**
 * The active-node endpoint container: HAProxy (haproxy.ts) on the cluster network, published on
 * the bind address, with the cluster CA (and, for mutual TLS, a client certificate) for its health
 * checks. Rendered like the nodes, so `up`, `down` and the compose file treat it alike.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { ContainerSpec, Mount } from '../runtime/port.js';
import { LABELS } from '../runtime/port.js';
import {
  CONTAINER_ENDPOINT_PORTS,
  clusterLabels,
  ENDPOINT_DIR,
  endpointContainerName,
} from '../spec/names.js';
import type { ClusterSpec } from '../spec/schema.js';
import { ENDPOINT_PATHS, HAPROXY_CONFIG_FILE, renderHaproxyConfig } from './haproxy.js';
import type { NamedResource, RenderedFile } from './rendered.js';

/** The combined client certificate and key (0600) that `up` writes for mutual-TLS health checks. */
export const ENDPOINT_CLIENT_PEM = join('tls', 'client', 'combined.pem');

export function renderEndpoint(
  spec: ClusterSpec,
  outDir: string,
  network: NamedResource,
): { files: RenderedFile[]; container: ContainerSpec } {
  const config = renderHaproxyConfig(spec);
  const files: RenderedFile[] = [{ path: join(ENDPOINT_DIR, HAPROXY_CONFIG_FILE), content: config }];
  const mounts: Mount[] = [
    { type: 'bind', source: join(outDir, ENDPOINT_DIR), target: ENDPOINT_PATHS.config, readOnly: true },
  ];
  if (spec.tls.enabled) {
    mounts.push({
      type: 'bind',
      source: join(outDir, 'tls', 'ca.pem'),
      target: ENDPOINT_PATHS.ca,
      readOnly: true,
    });
  }
  if (spec.tls.enabled && spec.tls.requireClientCert) {
    mounts.push({
      type: 'bind',
      source: join(outDir, ENDPOINT_CLIENT_PEM),
      target: ENDPOINT_PATHS.clientPem,
      readOnly: true,
    });
  }
  const ports = [
    {
      hostIp: spec.bindAddress,
      hostPort: spec.endpoint.port,
      containerPort: CONTAINER_ENDPOINT_PORTS.active,
    },
    ...(spec.endpoint.standbyPort !== undefined
      ? [
          {
            hostIp: spec.bindAddress,
            hostPort: spec.endpoint.standbyPort,
            containerPort: CONTAINER_ENDPOINT_PORTS.standby,
          },
        ]
      : []),
  ];
  const base: Omit<ContainerSpec, 'labels'> = {
    name: endpointContainerName(spec),
    hostname: 'endpoint',
    image: spec.endpoint.image,
    // Found through PATH: /usr/sbin in the local image, /usr/local/sbin in the official one.
    entrypoint: ['haproxy'],
    cmd: ['-db', '-f', `${ENDPOINT_PATHS.config}/${HAPROXY_CONFIG_FILE}`],
    env: {},
    passEnv: [],
    mounts,
    ports,
    network: { name: network.name, aliases: ['endpoint'] },
    restart: 'unless-stopped',
  };
  const configHash = createHash('sha256')
    .update(JSON.stringify(base))
    .update(config)
    .digest('hex')
    .slice(0, 16);
  return {
    files,
    container: {
      ...base,
      labels: { ...clusterLabels(spec), [LABELS.kind]: 'endpoint', [LABELS.configHash]: configHash },
    },
  };
}
