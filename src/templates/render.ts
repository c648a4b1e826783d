/**
 * ClusterSpec -> RenderedCluster: every file and every container description a runtime needs.
 * Pure: no I/O. `StateDir.writeRendered` (state/state-dir.ts) or `renderToDir` (lifecycle/render.ts)
 * puts the files on disk.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { ContainerSpec, Mount } from '../runtime/port.js';
import { LABELS } from '../runtime/port.js';
import { DEV_KMS_CREDENTIALS } from '../spec/dev-kms-names.js';
import {
  apiScheme,
  COMPOSE_FILE,
  CONTAINER_METRICS_PORT,
  CONTAINER_PROMETHEUS_PORT,
  clusterLabels,
  containerName,
  METRICS_TOKEN_FILE,
  MONITORING_DIR,
  monitoringContainerName,
  networkName,
  nodeConfigDir,
  SEAL_KEY_FILE,
  usesUnsealer,
  volumeName,
} from '../spec/names.js';
import type { ClusterSpec } from '../spec/schema.js';
import { CONTAINER_API_PORT } from '../spec/schema.js';
import { renderUnsealer } from '../unsealer/render.js';
import { renderAgent } from './agent.js';
import { renderCompose } from './compose.js';
import { renderDevKms } from './dev-kms.js';
import { renderEndpoint } from './endpoint.js';
import { hardenContainer, serviceIdentity } from './hardening.js';
import { nodePaths, renderNodeHcl, type SealMigrationRender } from './hcl.js';
import {
  PROMETHEUS_CONFIG_FILE,
  PROMETHEUS_RULES_FILE,
  renderAlertRules,
  renderPrometheusConfig,
} from './prometheus.js';
import type { NamedResource, RenderedCluster, RenderedFile } from './rendered.js';

/** Where a node finds seal.awskms.credentialsFile (the AWS SDK reads AWS_SHARED_CREDENTIALS_FILE). */
export const AWS_CREDENTIALS_TARGET = '/run/vaultctl/aws-credentials';

/** Seal credentials the nodes read from their environment; passed through, never rendered. */
export function sealCredentialEnv(spec: ClusterSpec): string[] {
  if (spec.seal.type === 'awskms' && !spec.seal.devKms.enabled)
    return [
      'AWS_ACCESS_KEY_ID',
      'AWS_SECRET_ACCESS_KEY',
      'AWS_SESSION_TOKEN',
      'AWS_REGION',
      'AWS_DEFAULT_REGION',
      'AWS_PROFILE',
    ];
  if (spec.seal.type === 'transit') return [`${nodePaths(spec.flavor).envPrefix}_TOKEN`];
  return [];
}

/**
 * @param outDir absolute directory the files are written to; bind mounts point into it.
 */
export function renderCluster(
  spec: ClusterSpec,
  outDir: string,
  migration?: SealMigrationRender,
): RenderedCluster {
  const paths = nodePaths(spec.flavor);
  const network: NamedResource = { name: networkName(spec), labels: clusterLabels(spec) };
  const files: RenderedFile[] = [];
  const volumes: NamedResource[] = [];
  const containers = spec.nodes.map((node): ContainerSpec => {
    const hcl = renderNodeHcl(spec, node, migration);
    const hclPath = join(nodeConfigDir(node), 'node.hcl');
    files.push({ path: hclPath, content: hcl });
    const nodeLabels = { ...clusterLabels(spec), [LABELS.node]: node.name };
    const data = volumeName(spec, node, 'data');
    const logs = volumeName(spec, node, 'logs');
    volumes.push({ name: data, labels: { ...nodeLabels, [LABELS.kind]: 'data' } });
    volumes.push({ name: logs, labels: { ...nodeLabels, [LABELS.kind]: 'logs' } });
    const mounts: Mount[] = [
      { type: 'bind', source: join(outDir, nodeConfigDir(node)), target: paths.config, readOnly: true },
      { type: 'volume', name: data, target: paths.data },
      { type: 'volume', name: logs, target: paths.logs },
    ];
    if (spec.tls.enabled) {
      mounts.push({
        type: 'bind',
        source: join(outDir, 'tls', node.name),
        target: paths.tls,
        readOnly: true,
      });
    }
    const awsCredentials = spec.seal.type === 'awskms' ? spec.seal.awskms?.credentialsFile : undefined;
    if (awsCredentials) {
      mounts.push({ type: 'bind', source: awsCredentials, target: AWS_CREDENTIALS_TARGET, readOnly: true });
    }
    // During a seal migration from static the node still unwraps its root key with the old key.
    if (spec.seal.type === 'static' || migration?.disabledSeal.type === 'static') {
      mounts.push({
        type: 'bind',
        source: join(outDir, SEAL_KEY_FILE),
        target: paths.sealKey,
        readOnly: true,
      });
    }
    const base: Omit<ContainerSpec, 'labels'> = {
      name: containerName(spec, node),
      hostname: node.name,
      image: spec.image,
      entrypoint: [paths.binary],
      cmd: ['server', `-config=${paths.configFile}`],
      env: {
        [`${paths.envPrefix}_ADDR`]: `${apiScheme(spec)}://127.0.0.1:${CONTAINER_API_PORT}`,
        ...(spec.tls.enabled ? { [`${paths.envPrefix}_CACERT`]: `${paths.tls}/ca.pem` } : {}),
        // The official images' entrypoints drop privileges and setcap; vaultctl runs the binary directly.
        SKIP_SETCAP: 'true',
        ...(awsCredentials ? { AWS_SHARED_CREDENTIALS_FILE: AWS_CREDENTIALS_TARGET } : {}),
        // The dev KMS checks no credentials, but the AWS SDK wants some: a fixed pair, not a secret.
        ...(spec.seal.devKms.enabled
          ? {
              AWS_ACCESS_KEY_ID: DEV_KMS_CREDENTIALS.accessKeyId,
              AWS_SECRET_ACCESS_KEY: DEV_KMS_CREDENTIALS.secretAccessKey,
            }
          : {}),
      },
      passEnv: sealCredentialEnv(spec),
      mounts,
      ports: [
        { hostIp: spec.bindAddress, hostPort: node.apiPort, containerPort: CONTAINER_API_PORT },
        { hostIp: spec.bindAddress, hostPort: node.apiPort + 1, containerPort: CONTAINER_METRICS_PORT },
      ],
      network: { name: network.name, aliases: [node.name] },
      healthcheck: {
        // `status` exits 0 when unsealed, 2 when sealed or not initialised.
        test: [
          paths.binary,
          'status',
          `-address=${apiScheme(spec)}://127.0.0.1:${CONTAINER_API_PORT}`,
          ...(spec.tls.enabled ? [`-ca-cert=${paths.tls}/ca.pem`] : []),
          ...(spec.tls.requireClientCert
            ? [`-client-cert=${paths.tls}/cert.pem`, `-client-key=${paths.tls}/key.pem`]
            : []),
        ],
        intervalMs: 5000,
        timeoutMs: 3000,
        retries: 3,
        startPeriodMs: 10000,
      },
      restart: 'unless-stopped',
    };
    // The hash covers the container description and the HCL it mounts: either changing means recreate.
    const configHash = createHash('sha256')
      .update(JSON.stringify(base))
      .update(hcl)
      .digest('hex')
      .slice(0, 16);
    return { ...base, labels: { ...nodeLabels, [LABELS.kind]: 'node', [LABELS.configHash]: configHash } };
  });
  if (spec.seal.devKms.enabled) containers.push(renderDevKms(spec, network));
  if (spec.endpoint.enabled) {
    const e = renderEndpoint(spec, outDir, network);
    files.push(...e.files);
    containers.push(e.container);
  }
  if (usesUnsealer(spec)) {
    const u = renderUnsealer(spec, outDir, network);
    files.push(...u.files);
    containers.push(u.container);
    volumes.push(u.volume);
  }
  if (spec.monitoring.enabled) {
    const m = renderMonitoring(spec, outDir, network);
    files.push(...m.files);
    containers.push(m.container);
  }
  if (spec.agent.enabled) {
    const a = renderAgent(spec, outDir, network);
    files.push(a.file);
    containers.push(a.container);
  }
  const id = serviceIdentity(spec);
  const hardened = containers.map((c) => hardenContainer(spec, c, id));
  const withoutCompose: RenderedCluster = { spec, files, containers: hardened, network, volumes };
  files.push({ path: COMPOSE_FILE, content: renderCompose(withoutCompose, outDir) });
  return withoutCompose;
}

/** Paths inside the Prometheus container. */
const PROM = {
  config: '/etc/prometheus',
  tls: '/etc/vaultctl-tls',
  data: '/prometheus',
} as const;

/**
 * The Prometheus container of `up --monitoring`: on the cluster's network (nodes by name), its
 * configuration directory (with the metrics token `init` writes there) and the CA mounted
 * read-only, its port on 127.0.0.1 only. It runs as the service uid, which owns the 0600 token file
 * (hardening.ts); the image is `FROM scratch` (local build) or prom/prometheus, and its data is
 * disposable (a tmpfs).
 */
function renderMonitoring(
  spec: ClusterSpec,
  outDir: string,
  network: NamedResource,
): { files: RenderedFile[]; container: ContainerSpec } {
  const mtls = spec.tls.enabled && spec.tls.requireClientCert;
  const config = renderPrometheusConfig(spec, 'network', {
    ...(spec.tls.enabled ? { caFile: `${PROM.tls}/ca.pem` } : {}),
    credentialsFile: `${PROM.config}/${METRICS_TOKEN_FILE}`,
    ...(mtls
      ? { clientCertFile: `${PROM.tls}/client/cert.pem`, clientKeyFile: `${PROM.tls}/client/key.pem` }
      : {}),
  });
  const rules = renderAlertRules(spec);
  const files: RenderedFile[] = [
    { path: join(MONITORING_DIR, PROMETHEUS_CONFIG_FILE), content: config },
    { path: join(MONITORING_DIR, PROMETHEUS_RULES_FILE), content: rules },
  ];
  const mounts: Mount[] = [
    { type: 'bind', source: join(outDir, MONITORING_DIR), target: PROM.config, readOnly: true },
  ];
  if (spec.tls.enabled) {
    mounts.push({
      type: 'bind',
      source: join(outDir, 'tls', 'ca.pem'),
      target: `${PROM.tls}/ca.pem`,
      readOnly: true,
    });
  }
  if (mtls) {
    mounts.push({
      type: 'bind',
      source: join(outDir, 'tls', 'client'),
      target: `${PROM.tls}/client`,
      readOnly: true,
    });
  }
  const base: Omit<ContainerSpec, 'labels'> = {
    name: monitoringContainerName(spec),
    hostname: 'prometheus',
    image: spec.monitoring.image,
    entrypoint: ['/bin/prometheus'],
    cmd: [
      `--config.file=${PROM.config}/${PROMETHEUS_CONFIG_FILE}`,
      `--storage.tsdb.path=${PROM.data}`,
      `--web.listen-address=0.0.0.0:${CONTAINER_PROMETHEUS_PORT}`,
      '--storage.tsdb.retention.time=15d',
    ],
    env: {},
    passEnv: [],
    mounts,
    ports: [
      { hostIp: '127.0.0.1', hostPort: spec.monitoring.port, containerPort: CONTAINER_PROMETHEUS_PORT },
    ],
    network: { name: network.name, aliases: ['prometheus'] },
    restart: 'unless-stopped',
  };
  const configHash = createHash('sha256')
    .update(JSON.stringify(base))
    .update(config)
    .update(rules)
    .digest('hex')
    .slice(0, 16);
  return {
    files,
    container: {
      ...base,
      labels: { ...clusterLabels(spec), [LABELS.kind]: 'monitoring', [LABELS.configHash]: configHash },
    },
  };
}

/**
 * `render --target prometheus`: the scrape configuration and rules for a Prometheus on the host,
 * reading the CA, the metrics token (and client certificate) from the state dir in place.
 */
export function renderPrometheusForHost(spec: ClusterSpec, stateRoot: string): RenderedFile[] {
  const mtls = spec.tls.enabled && spec.tls.requireClientCert;
  return [
    {
      path: PROMETHEUS_CONFIG_FILE,
      content: renderPrometheusConfig(spec, 'host', {
        ...(spec.tls.enabled ? { caFile: join(stateRoot, 'tls', 'ca.pem') } : {}),
        credentialsFile: join(stateRoot, MONITORING_DIR, METRICS_TOKEN_FILE),
        ...(mtls
          ? {
              clientCertFile: join(stateRoot, 'tls', 'client', 'cert.pem'),
              clientKeyFile: join(stateRoot, 'tls', 'client', 'key.pem'),
            }
          : {}),
      }),
    },
    { path: PROMETHEUS_RULES_FILE, content: renderAlertRules(spec) },
  ];
}
