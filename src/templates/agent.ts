/**
 * The agent container of `up --agent`: `vaultctl agent` as `<cluster>-agent` on the cluster
 * network, reaching the nodes by their network names (in their certificates' SANs), never the
 * host's loopback. It sees only what it needs of the state dir: the saved spec and the CA (and the
 * client certificate with mutual TLS) read-only, its own `agent/` directory (token, status,
 * staging) writable. The state root around them is a tmpfs (hardening.ts), so nothing else of the
 * state dir (keys, root token) is there. Directory destinations are bind-mounted at the same path,
 * so `snapshot status`, `list` and `restore` on the host read what the container wrote.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { AGENT_APP_DIR } from '../image/agent-image.js';
import type { ContainerSpec, Mount } from '../runtime/port.js';
import { LABELS } from '../runtime/port.js';
import { specToInput } from '../spec/load.js';
import { clusterLabels } from '../spec/names.js';
import type { ClusterSpec } from '../spec/schema.js';
import type { NamedResource, RenderedFile } from './rendered.js';

/** The state dirs' base inside the agent container (VAULTCTL_STATE_DIR). */
export const AGENT_STATE_BASE = '/var/lib/vaultctl';
/** The agent's metrics port inside its container; backup.metricsPort is published on 127.0.0.1. */
export const CONTAINER_AGENT_METRICS_PORT = 9464;
/** Tells `vaultctl agent` it runs in its container: nodes by network name, metrics on every interface. */
export const AGENT_IN_NETWORK_ENV = 'VAULTCTL_AGENT_IN_NETWORK';

export function agentContainerName(spec: ClusterSpec): string {
  return `${spec.name}-agent`;
}

/** The state root of the cluster inside the agent container (a tmpfs; hardening.ts). */
export function agentStateRoot(spec: ClusterSpec): string {
  return `${AGENT_STATE_BASE}/${spec.name}`;
}

/** Directory destinations of the backup section (absolute host paths), in order. */
export function agentDirDestinations(spec: ClusterSpec): string[] {
  return (spec.backup?.destinations ?? [])
    .map((d) => d.url)
    .filter((u) => !u.startsWith('s3://'))
    .map((u) => (u.startsWith('file://') ? u.slice('file://'.length) : u));
}

/** The spec the agent reads, rendered beside the state dir's own (which `up` saves only once applied). */
export const AGENT_SPEC_FILE = 'agent-spec/cluster.json';

export function renderAgent(
  spec: ClusterSpec,
  outDir: string,
  network: NamedResource,
): { file: RenderedFile; container: ContainerSpec } {
  const root = agentStateRoot(spec);
  const file: RenderedFile = {
    path: AGENT_SPEC_FILE,
    content: `${JSON.stringify(specToInput(spec), null, 2)}\n`,
  };
  const mounts: Mount[] = [
    { type: 'bind', source: join(outDir, AGENT_SPEC_FILE), target: `${root}/cluster.json`, readOnly: true },
    { type: 'bind', source: join(outDir, 'agent'), target: `${root}/agent`, readOnly: false },
  ];
  if (spec.tls.enabled)
    mounts.push({
      type: 'bind',
      source: join(outDir, 'tls', 'ca.pem'),
      target: `${root}/tls/ca.pem`,
      readOnly: true,
    });
  if (spec.tls.enabled && spec.tls.requireClientCert)
    mounts.push({
      type: 'bind',
      source: join(outDir, 'tls', 'client'),
      target: `${root}/tls/client`,
      readOnly: true,
    });
  for (const d of agentDirDestinations(spec))
    mounts.push({ type: 'bind', source: d, target: d, readOnly: false });
  const files = [
    ...(spec.backup?.destinations ?? []).flatMap((d) => (d.credentialsFile ? [d.credentialsFile] : [])),
    ...(spec.backup?.encryption?.gpgPublicKeys ?? []),
  ];
  for (const f of new Set(files)) mounts.push({ type: 'bind', source: f, target: f, readOnly: true });
  const metricsPort = spec.backup?.metricsPort ?? 0;
  const base: Omit<ContainerSpec, 'labels'> = {
    name: agentContainerName(spec),
    hostname: 'agent',
    image: spec.agent.image,
    entrypoint: ['/usr/local/bin/node', `${AGENT_APP_DIR}/bin/vaultctl`],
    cmd: [
      '--cluster',
      spec.name,
      'agent',
      '--log-format',
      'json',
      '--metrics-port',
      String(metricsPort > 0 ? CONTAINER_AGENT_METRICS_PORT : 0),
    ],
    env: { VAULTCTL_STATE_DIR: AGENT_STATE_BASE, [AGENT_IN_NETWORK_ENV]: '1', NODE_ENV: 'production' },
    // S3 credentials of a destination without a credentials file come from the environment.
    passEnv: ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_REGION', 'AWS_PROFILE'],
    mounts,
    ports:
      metricsPort > 0
        ? [{ hostIp: '127.0.0.1', hostPort: metricsPort, containerPort: CONTAINER_AGENT_METRICS_PORT }]
        : [],
    network: { name: network.name, aliases: ['agent'] },
    restart: 'unless-stopped',
  };
  const configHash = createHash('sha256')
    .update(JSON.stringify(base))
    .update(file.content)
    .digest('hex')
    .slice(0, 16);
  return {
    file,
    container: {
      ...base,
      labels: { ...clusterLabels(spec), [LABELS.kind]: 'agent', [LABELS.configHash]: configHash },
    },
  };
}
