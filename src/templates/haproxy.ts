/**
 * The active-node endpoint's HAProxy configuration. TCP mode: TLS passes through, so clients keep
 * verifying the node certificates against the cluster CA (and present their own certificate for
 * mutual TLS). HAProxy itself only health-checks: `GET /v1/sys/health` answers 200 on the active
 * node alone (429 standby, 503 sealed, 501 uninitialised), so the active backend holds one node.
 */
import { parseDuration } from '../cluster/poll.js';
import { CONTAINER_ENDPOINT_PORTS } from '../spec/names.js';
import type { ClusterSpec } from '../spec/schema.js';
import { CONTAINER_API_PORT } from '../spec/schema.js';

/** The audited request of the endpoint's health check; its audit lines carry this path. */
export const AUDITED_CHECK_PATH = '/v1/vaultctl-endpoint-check';

/**
 * The check sequence: the node's role from `sys/health`, then a request that goes through the
 * audit path. Each `connect default` opens a connection with the server line's TLS options.
 */
function checkRules(healthUri: string): string[] {
  return [
    '  option httpchk',
    '  http-check connect default',
    `  http-check send meth GET uri ${healthUri}`,
    '  http-check expect status 200',
    '  http-check connect default',
    `  http-check send meth GET uri ${AUDITED_CHECK_PATH}`,
    // 403: audited and refused (no token). 500: no audit device could log it.
    '  http-check expect status 403',
  ];
}

export const HAPROXY_CONFIG_FILE = 'haproxy.cfg';
/** Where the endpoint container finds its files. */
export const ENDPOINT_PATHS = {
  config: '/usr/local/etc/haproxy',
  ca: '/etc/vaultctl-tls/ca.pem',
  /** Client certificate and key in one PEM, for health checks against mutual-TLS listeners. */
  clientPem: '/etc/vaultctl-tls/client.pem',
} as const;

function serverLines(spec: ClusterSpec, checkMs: number): string[] {
  const tls = spec.tls.enabled;
  return spec.nodes.map((n) =>
    [
      `  server ${n.name} ${n.name}:${CONTAINER_API_PORT}`,
      'check',
      ...(tls
        ? [
            'check-ssl',
            `check-sni ${n.name}`,
            'verify required',
            `ca-file ${ENDPOINT_PATHS.ca}`,
            `verifyhost ${n.name}`,
            ...(spec.tls.requireClientCert ? [`crt ${ENDPOINT_PATHS.clientPem}`] : []),
          ]
        : []),
      // A node out of the backend (a standby, or down) is checked every 100 ms at most: a new active
      // node then takes traffic within 100 ms of saying so (bench/election-gap.mjs measured 250 ms
      // checks at about 300 ms of the gap after an election, 100 ms ones at about 120 ms).
      `inter ${checkMs}ms fastinter ${Math.max(50, Math.round(checkMs / 2))}ms downinter ${Math.min(100, checkMs)}ms`,
      'rise 1 fall 2',
      // A node that leaves the backend (a standby now, or dead) gets its client connections cut, so
      // keep-alive clients reconnect to the new active node instead of talking to a standby.
      'on-marked-down shutdown-sessions',
      // Nodes are found through Docker's DNS; a node that is not running yet does not stop HAProxy.
      'resolvers docker init-addr last,libc,none',
    ].join(' '),
  );
}

export function renderHaproxyConfig(spec: ClusterSpec): string {
  const checkMs = parseDuration(spec.endpoint.checkInterval) ?? 250;
  const lines = [
    `# Active-node endpoint of cluster ${spec.name}. Rendered by vaultctl from the cluster spec: change`,
    '# the spec and run `vaultctl up`, do not edit.',
    'global',
    '  log stdout format raw local0 notice',
    '  maxconn 4096',
    '',
    'defaults',
    '  mode tcp',
    '  log global',
    '  option dontlognull',
    '  timeout connect 2s',
    // Long enough for a snapshot download; idle keep-alive clients are cut after it.
    '  timeout client 5m',
    '  timeout server 5m',
    `  timeout check ${Math.max(500, checkMs * 2)}ms`,
    '',
    'resolvers docker',
    '  nameserver docker 127.0.0.11:53',
    '  hold valid 1s',
    '  hold obsolete 1s',
    '',
    'frontend vault_active',
    `  bind :${CONTAINER_ENDPOINT_PORTS.active}`,
    '  default_backend vault_active',
    '',
    'backend vault_active',
    ...checkRules('/v1/sys/health'),
    ...serverLines(spec, checkMs),
  ];
  if (spec.endpoint.standbyPort !== undefined) {
    lines.push(
      '',
      'frontend vault_any',
      `  bind :${CONTAINER_ENDPOINT_PORTS.standby}`,
      '  default_backend vault_any',
      '',
      'backend vault_any',
      '  balance leastconn',
      // Every unsealed node: the active one and the standbys that serve reads themselves.
      ...checkRules('/v1/sys/health?standbyok=true'),
      ...serverLines(spec, checkMs),
    );
  }
  lines.push(
    '',
    'frontend metrics',
    '  mode http',
    `  bind :${CONTAINER_ENDPOINT_PORTS.metrics}`,
    '  http-request use-service prometheus-exporter if { path /metrics }',
    '',
  );
  return lines.join('\n');
}
