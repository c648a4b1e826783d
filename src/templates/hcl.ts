/**
 * Node configuration (HCL) for OpenBao and Vault. One function per stanza keeps each readable;
 * `renderNodeHcl` puts them together. Values are escaped with `hclString`.
 */
import { basename } from 'node:path';
import { apiScheme, CONTAINER_METRICS_PORT, transitSettings } from '../spec/names.js';
import type { ClusterSpec, NodeSpec } from '../spec/schema.js';
import { CONTAINER_API_PORT, CONTAINER_CLUSTER_PORT } from '../spec/schema.js';
import { serverRules } from '../spec/seal-rules.js';

/** Where things live inside a node's container, by flavor. */
export interface NodePaths {
  readonly base: string;
  readonly config: string;
  readonly configFile: string;
  readonly data: string;
  readonly logs: string;
  readonly sealKey: string;
  /** Directory with ca.pem, cert.pem, key.pem of the node (mounted read-only). */
  readonly tls: string;
  /** `plugin_directory`: where `image build --kms-plugin` puts a KMS plugin in the server image. */
  readonly plugins: string;
  readonly binary: string;
  readonly envPrefix: 'BAO' | 'VAULT';
}

export function nodePaths(flavor: ClusterSpec['flavor']): NodePaths {
  const base = flavor === 'openbao' ? '/openbao' : '/vault';
  return {
    base,
    config: `${base}/config`,
    configFile: `${base}/config/node.hcl`,
    data: `${base}/data`,
    logs: `${base}/logs`,
    sealKey: `${base}/seal/seal.key`,
    tls: `${base}/tls`,
    plugins: `${base}/plugins`,
    binary: flavor === 'openbao' ? 'bao' : 'vault',
    envPrefix: flavor === 'openbao' ? 'BAO' : 'VAULT',
  };
}

/** A quoted HCL string: JSON escaping plus `${` and `%{`, which HCL would interpolate. */
export function hclString(value: string): string {
  return (
    JSON.stringify(value)
      // Replacement functions: as a replacement string, '$${' would read as "$$" (one "$") + "{".
      .replace(/\$\{/g, () => '$${')
      .replace(/%\{/g, () => '%%{')
      // HCL has no \b or \f escapes; \u forms mean the same character. Escape pairs are consumed
      // left to right, so an escaped backslash followed by "b" is left alone.
      .replace(/\\(.)/g, (m, c: string) => (c === 'b' ? '\\u0008' : c === 'f' ? '\\u000c' : m))
  );
}

export const STATIC_SEAL_KEY_ID = 'vaultctl-1';

/**
 * The seal stanza of `spec.seal`. `disabled`: the old seal of a seal migration, which the node
 * still reads to unwrap its root key while the new seal wraps it again.
 */
function sealStanza(spec: ClusterSpec, paths: NodePaths, disabled = false): string {
  const text = enabledSealStanza(spec, paths);
  if (!disabled) return text;
  if (spec.seal.type === 'shamir') return '';
  return text
    .replace(/^# /, '# The old seal, kept for a seal migration (`vaultctl seal migrate`): ')
    .replace(/^(seal "[a-z]+" \{)$/m, '$1\n  disabled = "true"');
}

function enabledSealStanza(spec: ClusterSpec, paths: NodePaths): string {
  const s = spec.seal;
  switch (s.type) {
    case 'shamir':
      return '# seal: shamir (no seal stanza). Unseal keys are typed in, or read from the state dir by `vaultctl unseal`.\n';
    case 'static':
      return [
        '# Auto-unseal from a 32-byte key that vaultctl generated into the state dir (0600), mounted read-only.',
        'seal "static" {',
        `  current_key_id = ${hclString(STATIC_SEAL_KEY_ID)}`,
        `  current_key    = ${hclString(`file://${paths.sealKey}`)}`,
        '}',
        '',
      ].join('\n');
    case 'awskms': {
      const k = s.awskms!;
      return [
        ...(k.plugin ? kmsPluginStanza('awskms', k.plugin, paths) : []),
        '# Auto-unseal with AWS KMS. Credentials come from the environment (AWS_* variables or an instance role).',
        'seal "awskms" {',
        `  region     = ${hclString(k.region)}`,
        `  kms_key_id = ${hclString(k.kmsKeyId)}`,
        ...(k.endpoint ? [`  endpoint   = ${hclString(k.endpoint)}`] : []),
        '}',
        '',
      ].join('\n');
    }
    case 'transit': {
      const t = transitSettings(spec);
      // The unsealer's certificate comes from the cluster CA, which every node has mounted.
      const ca = t.tlsCaCert ?? (t.managed && spec.tls.enabled ? `${paths.tls}/ca.pem` : undefined);
      return [
        t.managed
          ? `# Auto-unseal with the transit engine of this cluster's unsealer. The token comes from ${paths.envPrefix}_TOKEN in the environment;`
          : `# Auto-unseal with a transit engine elsewhere. The token comes from ${paths.envPrefix}_TOKEN in the environment;`,
        '# the server renews it itself (its policy allows auth/token/renew-self).',
        'seal "transit" {',
        `  address    = ${hclString(t.address)}`,
        `  key_name   = ${hclString(t.keyName)}`,
        `  mount_path = ${hclString(t.mountPath)}`,
        ...(ca ? [`  tls_ca_cert = ${hclString(ca)}`] : []),
        '}',
        '',
      ].join('\n');
    }
  }
}

/** The file name a KMS plugin has in the image's plugin directory (what `image build` copies it as). */
export function kmsPluginCommand(plugin: { readonly binary: string }): string {
  return basename(plugin.binary);
}

/**
 * An external KMS plugin, registered under the seal's own name so that `seal "<name>"` runs it.
 * The server checks the binary's SHA-256 before it executes it.
 */
function kmsPluginStanza(
  seal: string,
  plugin: { readonly binary: string; readonly sha256: string },
  paths: NodePaths,
): string[] {
  return [
    `# The ${seal} seal as an external KMS plugin (OpenBao 2.7 has no built-in cloud KMS seals),`,
    '# baked into the server image by `vaultctl image build --kms-plugin`.',
    `plugin_directory = ${hclString(paths.plugins)}`,
    `plugin "kms" ${hclString(seal)} {`,
    `  command   = ${hclString(kmsPluginCommand(plugin))}`,
    `  sha256sum = ${hclString(plugin.sha256)}`,
    '}',
    '',
  ];
}

/** http or https, as the spec says. */
function listenerStanza(spec: ClusterSpec, paths: NodePaths): string[] {
  const tls = spec.tls.enabled
    ? [
        `  tls_cert_file   = ${hclString(`${paths.tls}/cert.pem`)}`,
        `  tls_key_file    = ${hclString(`${paths.tls}/key.pem`)}`,
        '  tls_min_version = "tls13"',
        ...(spec.tls.requireClientCert
          ? [
              `  tls_client_ca_file                 = ${hclString(`${paths.tls}/ca.pem`)}`,
              '  tls_require_and_verify_client_cert = true',
            ]
          : []),
      ]
    : ['  tls_disable     = true'];
  return [
    spec.tls.enabled
      ? '# TLS 1.3 with a certificate from the cluster CA (SANs: the node name, localhost, 127.0.0.1).'
      : '# TLS is OFF (tls.enabled: false): plain HTTP.',
    'listener "tcp" {',
    `  address         = ${hclString(`0.0.0.0:${CONTAINER_API_PORT}`)}`,
    `  cluster_address = ${hclString(`0.0.0.0:${CONTAINER_CLUSTER_PORT}`)}`,
    ...tls,
    '',
    '  telemetry {',
    `    unauthenticated_metrics_access = ${spec.telemetry.unauthenticatedMetricsAccess}`,
    '  }',
    '}',
    '',
    "# This node's own metrics: standbys forward every authenticated request to the active node,",
    '# /v1/sys/metrics included, so Prometheus reads each node here. Metrics only, no token needed.',
    'listener "tcp" {',
    `  address         = ${hclString(`0.0.0.0:${CONTAINER_METRICS_PORT}`)}`,
    ...tls.filter((l) => !/client/.test(l)),
    '',
    '  telemetry {',
    '    unauthenticated_metrics_access = true',
    '    metrics_only                   = true',
    '  }',
    '}',
  ];
}

function retryJoin(spec: ClusterSpec, paths: NodePaths, peer: NodeSpec): string[] {
  const scheme = apiScheme(spec);
  return [
    '  retry_join {',
    `    leader_api_addr       = ${hclString(`${scheme}://${peer.name}:${CONTAINER_API_PORT}`)}`,
    ...(spec.tls.enabled
      ? [
          `    leader_ca_cert_file   = ${hclString(`${paths.tls}/ca.pem`)}`,
          `    leader_tls_servername = ${hclString(peer.name)}`,
        ]
      : []),
    ...(spec.tls.requireClientCert
      ? [
          `    leader_client_cert_file = ${hclString(`${paths.tls}/cert.pem`)}`,
          `    leader_client_key_file  = ${hclString(`${paths.tls}/key.pem`)}`,
        ]
      : []),
    '  }',
  ];
}

/** What `renderNodeHcl` adds for a seal migration. */
export interface SealMigrationRender {
  /** The seal the node migrates from: rendered with `disabled = "true"` beside the new one. */
  readonly disabledSeal: ClusterSpec['seal'];
}

export function renderNodeHcl(spec: ClusterSpec, node: NodeSpec, migration?: SealMigrationRender): string {
  const paths = nodePaths(spec.flavor);
  const scheme = apiScheme(spec);
  const peers = spec.nodes.filter((n) => n.name !== node.name);
  const fields = serverRules(spec.flavor, spec.serverVersion).fields;
  const lines: string[] = [
    `# ${spec.flavor === 'openbao' ? 'OpenBao' : 'Vault'} node ${node.name} of cluster ${spec.name}.`,
    '# Rendered by vaultctl from the cluster spec: change the spec and run `vaultctl up`, do not edit.',
    '',
    `ui            = ${spec.ui}`,
    // Only the fields this server knows (seal-rules.ts): OpenBao logs disable_mlock as unknown on
    // every start; Vault with Raft storage must have it off explicitly.
    ...(fields.disableMlock ? ['disable_mlock = true'] : []),
    // Standbys answer reads from their own, lagging state only when the spec opts in; otherwise they
    // forward every request to the active node, and a write is read back through any node.
    ...(fields.disableStandbyReads ? [`disable_standby_reads = ${!spec.standbyReads}`] : []),
    `log_level     = ${hclString(spec.logLevel)}`,
    `cluster_name  = ${hclString(spec.name)}`,
    `api_addr      = ${hclString(`${scheme}://${node.name}:${CONTAINER_API_PORT}`)}`,
    '# The cluster port always speaks TLS, with certificates the cluster manages itself.',
    `cluster_addr  = ${hclString(`https://${node.name}:${CONTAINER_CLUSTER_PORT}`)}`,
    '',
    'storage "raft" {',
    `  path    = ${hclString(paths.data)}`,
    `  node_id = ${hclString(node.name)}`,
    '  # 1 is the production recommendation: a dead leader is noticed in about a second, not 5-10 s.',
    `  performance_multiplier = ${spec.raft.performanceMultiplier}`,
    '  # Autopilot acts every reconcile interval: promotion of joined nodes waits for its next tick.',
    `  autopilot_reconcile_interval = ${hclString(spec.raft.autopilot.reconcileInterval)}`,
    `  autopilot_update_interval    = ${hclString(spec.raft.autopilot.updateInterval)}`,
    '',
    ...peers.flatMap((p) => retryJoin(spec, paths, p)),
    '}',
    '',
    ...listenerStanza(spec, paths),
    '',
    ...(migration ? [sealStanza({ ...spec, seal: migration.disabledSeal }, paths, true)] : []),
    sealStanza(spec, paths),
    '# Without a telemetry stanza /v1/sys/metrics answers 400.',
    'telemetry {',
    `  prometheus_retention_time = ${hclString(spec.telemetry.prometheusRetentionTime)}`,
    `  disable_hostname          = ${spec.telemetry.disableHostname}`,
    '}',
  ];
  if (spec.audit.enabled && spec.flavor === 'openbao') {
    lines.push(
      '',
      '# OpenBao >= 2.3.2 refuses to create audit devices over the API: declared here instead.',
      'audit "file" "file" {',
      '  options {',
      `    file_path = ${hclString(`${paths.logs}/${spec.audit.file}`)}`,
      '  }',
      '}',
    );
    if (spec.audit.socket)
      lines.push(
        '',
        '# A second device that ships entries to a log receiver: one failing device no longer blocks requests.',
        'audit "socket" "ship" {',
        '  options {',
        `    address     = ${hclString(spec.audit.socket.address)}`,
        `    socket_type = ${hclString(spec.audit.socket.socketType)}`,
        '  }',
        '}',
      );
  }
  return `${lines.join('\n')}\n`;
}
