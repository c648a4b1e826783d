/**
 * The unsealer's configuration and container (pure): an OpenBao on the static seal that serves
 * the cluster's transit seal. It lives beside the nodes on the cluster network (as `unsealer`),
 * publishes its API on 127.0.0.1 only (vaultctl bootstraps it and renews the nodes' token there),
 * and keeps its own data volume and state (`unsealer/` in the state dir).
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { ContainerSpec, Mount } from '../runtime/port.js';
import { LABELS } from '../runtime/port.js';
import {
  apiScheme,
  clusterLabels,
  UNSEALER_DIR,
  UNSEALER_HOST,
  unsealerContainerName,
  unsealerPort,
  unsealerVolumeName,
} from '../spec/names.js';
import type { ClusterSpec } from '../spec/schema.js';
import { CONTAINER_API_PORT, CONTAINER_CLUSTER_PORT } from '../spec/schema.js';
import { hclString, nodePaths } from '../templates/hcl.js';
import type { NamedResource, RenderedFile } from '../templates/rendered.js';

export const UNSEALER_SEAL_KEY_ID = 'vaultctl-unsealer-1';
/** The policy of the nodes' token: encrypt and decrypt with the seal key, renew itself; nothing else. */
export const UNSEALER_NODE_POLICY = 'vaultctl-autounseal';
/** The unsealer's own volume kind: its data is what unseals the cluster. */
export const UNSEALER_VOLUME_KIND = 'unsealer-data';

/** Files of the unsealer, relative to the state dir. */
export const UNSEALER_FILES = {
  config: join(UNSEALER_DIR, 'config', 'unsealer.hcl'),
  /** Its static seal key (32 bytes, 0600): without it the unsealer, and so the cluster, stays sealed. */
  sealKey: join(UNSEALER_DIR, 'seal.key'),
  /** Its recovery key and root token (0600). */
  init: join(UNSEALER_DIR, 'init.json'),
  /** The nodes' token and its accessor (0600). */
  nodeToken: join(UNSEALER_DIR, 'node-token.json'),
} as const;

/** The nodes' transit policy: only encrypt/decrypt on this one key, and renewing the token itself. */
export function nodeTokenPolicy(mountPath: string, keyName: string): string {
  const mount = mountPath.replace(/\/+$/, '');
  return [
    '# The cluster nodes seal and unseal with this key, and renew their own (periodic) token.',
    `path ${hclString(`${mount}/encrypt/${keyName}`)} {`,
    '  capabilities = ["update"]',
    '}',
    `path ${hclString(`${mount}/decrypt/${keyName}`)} {`,
    '  capabilities = ["update"]',
    '}',
    'path "auth/token/renew-self" {',
    '  capabilities = ["update"]',
    '}',
    'path "auth/token/lookup-self" {',
    '  capabilities = ["read"]',
    '}',
    '',
  ].join('\n');
}

export function renderUnsealerHcl(spec: ClusterSpec): string {
  const paths = nodePaths(spec.flavor);
  const scheme = apiScheme(spec);
  return [
    `# The unsealer of cluster ${spec.name}: serves the transit key that auto-unseals the nodes.`,
    '# Rendered by vaultctl; it unseals itself with the static key in the state dir (unsealer/seal.key).',
    '',
    'ui            = false',
    `log_level     = ${hclString(spec.logLevel)}`,
    `api_addr      = ${hclString(`${scheme}://${UNSEALER_HOST}:${CONTAINER_API_PORT}`)}`,
    `cluster_addr  = ${hclString(`https://${UNSEALER_HOST}:${CONTAINER_CLUSTER_PORT}`)}`,
    '',
    'storage "raft" {',
    `  path    = ${hclString(paths.data)}`,
    `  node_id = ${hclString(UNSEALER_HOST)}`,
    '}',
    '',
    'listener "tcp" {',
    `  address         = ${hclString(`0.0.0.0:${CONTAINER_API_PORT}`)}`,
    `  cluster_address = ${hclString(`0.0.0.0:${CONTAINER_CLUSTER_PORT}`)}`,
    ...(spec.tls.enabled
      ? [
          `  tls_cert_file   = ${hclString(`${paths.tls}/cert.pem`)}`,
          `  tls_key_file    = ${hclString(`${paths.tls}/key.pem`)}`,
          '  tls_min_version = "tls13"',
        ]
      : ['  tls_disable     = true']),
    '}',
    '',
    'seal "static" {',
    `  current_key_id = ${hclString(UNSEALER_SEAL_KEY_ID)}`,
    `  current_key    = ${hclString(`file://${paths.sealKey}`)}`,
    '}',
    '',
  ].join('\n');
}

/** The unsealer's certificate names: its network alias (nodes) and the loopback (vaultctl). */
export function unsealerSans(): string[] {
  return [`DNS:${UNSEALER_HOST}`, 'DNS:localhost', 'IP:127.0.0.1'];
}

export function renderUnsealer(
  spec: ClusterSpec,
  outDir: string,
  network: NamedResource,
): { files: RenderedFile[]; container: ContainerSpec; volume: NamedResource } {
  const paths = nodePaths(spec.flavor);
  const hcl = renderUnsealerHcl(spec);
  const labels = clusterLabels(spec);
  const volume: NamedResource = {
    name: unsealerVolumeName(spec),
    labels: { ...labels, [LABELS.kind]: UNSEALER_VOLUME_KIND },
  };
  const mounts: Mount[] = [
    { type: 'bind', source: join(outDir, UNSEALER_DIR, 'config'), target: paths.config, readOnly: true },
    { type: 'bind', source: join(outDir, UNSEALER_FILES.sealKey), target: paths.sealKey, readOnly: true },
    { type: 'volume', name: volume.name, target: paths.data },
  ];
  if (spec.tls.enabled)
    mounts.push({
      type: 'bind',
      source: join(outDir, 'tls', UNSEALER_HOST),
      target: paths.tls,
      readOnly: true,
    });
  const address = `${apiScheme(spec)}://127.0.0.1:${CONTAINER_API_PORT}`;
  const base: Omit<ContainerSpec, 'labels'> = {
    name: unsealerContainerName(spec),
    hostname: UNSEALER_HOST,
    image: spec.image,
    entrypoint: [paths.binary],
    cmd: ['server', `-config=${paths.config}/unsealer.hcl`],
    env: {
      [`${paths.envPrefix}_ADDR`]: address,
      ...(spec.tls.enabled ? { [`${paths.envPrefix}_CACERT`]: `${paths.tls}/ca.pem` } : {}),
      SKIP_SETCAP: 'true',
    },
    passEnv: [],
    mounts,
    // Loopback only, whatever the cluster's bind address: only vaultctl talks to it from the host.
    ports: [{ hostIp: '127.0.0.1', hostPort: unsealerPort(spec), containerPort: CONTAINER_API_PORT }],
    network: { name: network.name, aliases: [UNSEALER_HOST] },
    healthcheck: {
      test: [
        paths.binary,
        'status',
        `-address=${address}`,
        ...(spec.tls.enabled ? [`-ca-cert=${paths.tls}/ca.pem`] : []),
      ],
      intervalMs: 5000,
      timeoutMs: 3000,
      retries: 3,
      startPeriodMs: 10000,
    },
    restart: 'unless-stopped',
  };
  const configHash = createHash('sha256').update(JSON.stringify(base)).update(hcl).digest('hex').slice(0, 16);
  return {
    files: [{ path: UNSEALER_FILES.config, content: hcl }],
    container: {
      ...base,
      labels: {
        ...labels,
        [LABELS.node]: UNSEALER_HOST,
        [LABELS.kind]: 'unsealer',
        [LABELS.configHash]: configHash,
      },
    },
    volume,
  };
}
