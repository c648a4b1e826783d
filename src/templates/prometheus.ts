/**
 * Prometheus files for a cluster: a scrape configuration for every node and the alert rules.
 *
 * Every metric name below was read from the real `/v1/sys/metrics?format=prometheus` of OpenBao
 * 2.7.2 (names keep Vault's `vault_` prefix). Each node is scraped on its metrics-only listener
 * (container port 8210, published one port above its API port): standbys forward every
 * authenticated API request to the active node, sys/metrics included, so through the API every
 * node would report the active node's metrics. Where a metric lives matters:
 *   every unsealed node: vault_core_unsealed, vault_core_active, vault_raft_storage_stats_*
 *   the active node only: vault_autopilot_*, vault_raft_peers, vault_core_handle_request (until a
 *     standby serves a read itself), vault_audit_log_response_failure
 *   a sealed node: answers only without a token (unauthenticated_metrics_access), with
 *     vault_core_unsealed 0; with a token it answers 503 and its target is down.
 * Summaries and counters vanish from the endpoint `prometheus_retention_time` after their last
 * update: a rule over them must treat absence as "nothing happened".
 */
import { stringify } from 'yaml';
import { apiScheme, CONTAINER_ENDPOINT_PORTS, CONTAINER_METRICS_PORT } from '../spec/names.js';
import { parseDurationMs } from '../spec/schedule.js';
import type { ClusterSpec } from '../spec/schema.js';

export const PROMETHEUS_CONFIG_FILE = 'prometheus.yml';
export const PROMETHEUS_RULES_FILE = 'vault-alerts.rules.yml';
export const SCRAPE_JOB = 'vault';
export const ENDPOINT_SCRAPE_JOB = 'vault-endpoint';

/** Where the scraping Prometheus runs, which decides the node addresses it uses. */
export type ScrapeVantage =
  /** On the cluster's Docker network: nodes by name on the container port. */
  | 'network'
  /** On the host: the published ports. */
  | 'host';

export interface ScrapeFiles {
  /** CA certificate that signed the node certificates (TLS clusters). */
  readonly caFile?: string;
  /** File holding only the metrics token; absent with unauthenticated metrics access. */
  readonly credentialsFile?: string;
  /** Client certificate and key, for clusters with mutual TLS. */
  readonly clientCertFile?: string;
  readonly clientKeyFile?: string;
}

export interface AlertRule {
  readonly alert: string;
  readonly expr: string;
  /** The alert's own `for`; `monitoring.alertFor` replaces it. */
  readonly for: string;
  readonly severity: 'critical' | 'warning';
  readonly summary: string;
  readonly description: string;
  readonly runbook: string;
}

function nodeTarget(spec: ClusterSpec, vantage: ScrapeVantage, i: number): string {
  // Each node's metrics-only listener: its own metrics, whether it is active or a standby.
  const node = spec.nodes[i]!;
  if (vantage === 'network') return `${node.name}:${CONTAINER_METRICS_PORT}`;
  const host = spec.bindAddress === '0.0.0.0' ? '127.0.0.1' : spec.bindAddress;
  return `${host}:${node.apiPort + 1}`;
}

/**
 * The scrape configuration. Node certificates carry the node name, localhost and 127.0.0.1 as
 * SANs, so both vantages verify the node by the very address they scrape: no `server_name`.
 */
export function renderPrometheusConfig(
  spec: ClusterSpec,
  vantage: ScrapeVantage,
  files: ScrapeFiles,
  rulesFile = PROMETHEUS_RULES_FILE,
): string {
  const tls = spec.tls.enabled
    ? {
        tls_config: {
          ...(files.caFile ? { ca_file: files.caFile } : {}),
          ...(files.clientCertFile && files.clientKeyFile
            ? { cert_file: files.clientCertFile, key_file: files.clientKeyFile }
            : {}),
          min_version: 'TLS13',
        },
      }
    : {};
  const auth =
    !spec.telemetry.unauthenticatedMetricsAccess && files.credentialsFile
      ? { authorization: { type: 'Bearer', credentials_file: files.credentialsFile } }
      : {};
  const doc = {
    global: {
      scrape_interval: spec.monitoring.scrapeInterval,
      evaluation_interval: spec.monitoring.evaluationInterval,
      external_labels: { vaultctl_cluster: spec.name },
    },
    rule_files: [rulesFile],
    scrape_configs: [
      {
        job_name: SCRAPE_JOB,
        metrics_path: '/v1/sys/metrics',
        params: { format: ['prometheus'] },
        scheme: apiScheme(spec),
        // The nodes label some series with their cluster name already: the same value as ours.
        honor_labels: true,
        ...auth,
        ...tls,
        static_configs: spec.nodes.map((n, i) => ({
          targets: [nodeTarget(spec, vantage, i)],
          labels: { cluster: spec.name, node: n.name },
        })),
      },
      // HAProxy's own exporter on the endpoint (not published: only a Prometheus on the cluster
      // network scrapes it).
      ...(spec.endpoint.enabled && vantage === 'network'
        ? [
            {
              job_name: ENDPOINT_SCRAPE_JOB,
              metrics_path: '/metrics',
              scheme: 'http',
              static_configs: [
                {
                  targets: [`endpoint:${CONTAINER_ENDPOINT_PORTS.metrics}`],
                  labels: { cluster: spec.name },
                },
              ],
            },
          ]
        : []),
      // `vaultctl agent` on this host (its metrics listen on 127.0.0.1 only).
      ...(spec.backup && spec.backup.metricsPort > 0 && vantage !== 'network'
        ? [
            {
              job_name: 'vaultctl-agent',
              metrics_path: '/metrics',
              scheme: 'http',
              static_configs: [
                { targets: [`127.0.0.1:${spec.backup.metricsPort}`], labels: { cluster: spec.name } },
              ],
            },
          ]
        : []),
    ],
  };
  const header = [
    `# Prometheus scrape configuration for cluster ${spec.name} (${spec.nodes.length} ${spec.flavor} nodes).`,
    '# Rendered by vaultctl from the cluster spec; every node is scraped, standbys included.',
    spec.telemetry.unauthenticatedMetricsAccess
      ? '# Metrics are read without a token (telemetry.unauthenticatedMetricsAccess: development only).'
      : '# Metrics are read with the metrics token `vaultctl init` creates (policy metrics: read sys/metrics only).',
  ];
  return `${header.join('\n')}\n${stringify(doc, { lineWidth: 0 })}`;
}

/** The alert rules, as data: rendered into the rules file, listed in the README, unit-tested with promtool. */
export function alertRules(spec: ClusterSpec): AlertRule[] {
  const sel = `job="${SCRAPE_JOB}",cluster="${spec.name}"`;
  const voters = spec.nodes.length;
  const onActive = (metric: string) => `${metric}{${sel}} and on (instance) (vault_core_active{${sel}} == 1)`;
  return [
    {
      alert: 'VaultNodeDown',
      expr: `up{${sel}} == 0`,
      for: '1m',
      severity: 'warning',
      summary: 'Vault node {{ $labels.node }} does not answer its metrics scrape',
      description:
        '{{ $labels.node }} ({{ $labels.instance }}) has not answered /v1/sys/metrics on its metrics listener: it is stopped, ' +
        'unreachable or still starting.',
      runbook:
        '`vaultctl health` shows whether the node is down or sealed; `docker logs <cluster>-{{ $labels.node }}`; `vaultctl up` starts a stopped container.',
    },
    {
      alert: 'VaultSealed',
      expr: `vault_core_unsealed{${sel}} == 0`,
      for: '1m',
      severity: 'critical',
      summary: 'Vault node {{ $labels.node }} is sealed',
      description:
        '{{ $labels.node }} reports vault_core_unsealed 0 on its metrics listener: it serves no requests.',
      runbook:
        'Shamir: `vaultctl unseal`. Static/KMS seal: the node should unseal itself; check its log for seal errors and that the seal key in the state dir is the right one.',
    },
    {
      alert: 'VaultNoLeader',
      expr: `(sum(vault_core_active{${sel}}) or vector(0)) < 1`,
      for: '30s',
      severity: 'critical',
      summary: `Cluster ${spec.name} has no active node`,
      description:
        'No scraped node reports vault_core_active 1: no leader, so no request is served. Quorum is lost or every node is sealed or down.',
      runbook:
        '`vaultctl health` shows which nodes answer; bring stopped nodes back (`vaultctl up`), unseal sealed ones; with quorum lost for good, restore a snapshot.',
    },
    {
      alert: 'VaultLeadershipFlapping',
      expr: `max(changes(vault_raft_storage_stats_term{${sel}}[15m])) >= 3`,
      for: '0s',
      severity: 'warning',
      summary: `Cluster ${spec.name} changed its raft term {{ $value }} times in 15 minutes`,
      description:
        'The raft term keeps rising: leaders are lost and elected again. Requests fail during every election.',
      runbook:
        'Look for a node that restarts or loses its network (`docker ps`, node logs: "heartbeat timeout"); check host load and disk latency; performance_multiplier 1 reacts fastest but needs a responsive host.',
    },
    {
      alert: 'VaultRaftFailureToleranceLow',
      expr: `max(${onActive('vault_autopilot_failure_tolerance')}) < 1`,
      for: '1m',
      severity: 'warning',
      summary: `Cluster ${spec.name} tolerates no further node failure`,
      description:
        'Autopilot reports a failure tolerance of {{ $value }}: one more lost voter takes the cluster down.',
      runbook:
        '`vaultctl health` names the missing or unhealthy voter; restart it (`vaultctl up`) or replace it; autopilot promotes a new node after its stabilisation time.',
    },
    {
      alert: 'VaultRaftVotersBelowExpected',
      expr: `sum(${onActive('vault_autopilot_node_healthy')}) < ${voters}`,
      for: '1m',
      severity: 'warning',
      summary: `Cluster ${spec.name} has {{ $value }} healthy raft servers, expected ${voters}`,
      description: `Autopilot on the active node counts fewer healthy servers than the ${voters} voters of the spec.`,
      runbook:
        '`vaultctl health` lists voters and the unhealthy servers; a node that stays unhealthy after a restart needs its data volume checked or a rejoin.',
    },
    {
      alert: 'VaultHighLatency',
      expr: `max by (cluster, node) (vault_core_handle_request{${sel},quantile="0.99"}) > ${spec.monitoring.highLatencyMs}`,
      for: '5m',
      severity: 'warning',
      summary: 'Vault node {{ $labels.node }} answers slowly: p99 {{ $value }} ms',
      description: `The 99th percentile of vault_core_handle_request (milliseconds, a summary over the node's retention window) stays above ${spec.monitoring.highLatencyMs} ms.`,
      runbook:
        'Check the storage (raft commit time: vault_raft_commitTime), host CPU and the audit device (a slow disk slows every request); `vaultctl bench` measures it.',
    },
    ...(spec.endpoint.enabled
      ? [
          {
            alert: 'VaultEndpointNoBackend',
            // No backend: every node failed its check (no active node, or the endpoint cannot reach
            // them); or the endpoint itself does not answer its scrape.
            expr:
              `haproxy_backend_active_servers{job="${ENDPOINT_SCRAPE_JOB}",cluster="${spec.name}",proxy="vault_active"} == 0` +
              ` or up{job="${ENDPOINT_SCRAPE_JOB}",cluster="${spec.name}"} == 0`,
            for: '30s',
            severity: 'critical' as const,
            summary: `The endpoint of cluster ${spec.name} routes to no node`,
            description:
              'The active-node endpoint has no node in its active backend, or does not answer: applications that know only the endpoint address reach nothing, though nodes may still answer on their own addresses.',
            runbook:
              '`vaultctl health` shows the endpoint row and the nodes; no active node: see VaultNoLeader; endpoint down: `docker logs <cluster>-endpoint`, `vaultctl up` starts it.',
          },
        ]
      : []),
    {
      alert: 'VaultAuditLogFailures',
      // Two sums, not one regex over __name__: increase() drops the name, and the two counters of one
      // node would then collide on their labels. Either may be absent (not yet or no longer exported).
      expr:
        `(sum(increase(vault_audit_log_request_failure{${sel}}[5m])) or vector(0))` +
        ` + (sum(increase(vault_audit_log_response_failure{${sel}}[5m])) or vector(0)) > 0`,
      for: '0s',
      severity: 'critical',
      summary: `Cluster ${spec.name} failed to write audit log entries`,
      description:
        'vault_audit_log_request_failure / vault_audit_log_response_failure increased: an audit device that cannot write blocks requests.',
      runbook:
        'Check the disk behind the logs volume (`docker volume inspect <cluster>-<node>-logs`, then df on its mountpoint) and the node log for audit errors; free space or fix permissions.',
    },
    ...(spec.backup ? [backupStaleRule(spec.name, spec.backup.maxAge)] : []),
    // The agent (it runs for a spec with backups) measures the volumes.
    ...(spec.backup ? [diskFillingRule(spec, 'audit'), diskFillingRule(spec, 'raft')] : []),
  ];
}

/**
 * VaultAuditDiskFilling / VaultRaftDiskFilling, over the agent's disk gauges: the filesystem behind
 * a node's volume is past monitoring.diskMaxUsedPercent, or predict_linear over the last hour of
 * its free bytes says it is full within monitoring.diskMinTimeToFull.
 */
export function diskFillingRule(spec: ClusterSpec, volume: 'audit' | 'raft'): AlertRule {
  const sel = `cluster="${spec.name}",volume="${volume}"`;
  const avail = `vaultctl_volume_fs_avail_bytes{${sel}}`;
  const used = `vaultctl_volume_fs_used_bytes{${sel}}`;
  const horizon = (parseDurationMs(spec.monitoring.diskMinTimeToFull) ?? 86_400_000) / 1000;
  const pct = spec.monitoring.diskMaxUsedPercent;
  return {
    alert: volume === 'audit' ? 'VaultAuditDiskFilling' : 'VaultRaftDiskFilling',
    expr: `(100 * ${used} / (${used} + ${avail}) >= ${pct}) or (predict_linear(${avail}[1h], ${horizon}) < 0)`,
    for: '10m',
    severity: 'warning',
    summary: `Cluster ${spec.name}: the ${volume} volume of {{ $labels.node }} is filling`,
    description: `The filesystem behind {{ $labels.node }}'s ${volume} volume is at least ${pct}% used, or full within ${spec.monitoring.diskMinTimeToFull} at its growth over the last hour.`,
    runbook:
      volume === 'audit'
        ? '`vaultctl health` shows the volume; `vaultctl audit rotate` compresses the live file and applies audit.keep / audit.retention. A full audit volume blocks every request.'
        : '`vaultctl health` shows the volume; grow the disk behind `<cluster>-<node>-data`. A full raft volume stops writes.',
  };
}

/**
 * VaultBackupStale: a destination's newest verified snapshot is older than backup.maxAge, or the
 * agent's metrics are missing altogether (agent down: nobody is backing up).
 */
function backupStaleRule(cluster: string, maxAge: string): AlertRule {
  const m = `vaultctl_backup_last_success_timestamp_seconds{cluster="${cluster}"}`;
  return {
    alert: 'VaultBackupStale',
    expr: `(time() - ${m} > ${(parseDurationMs(maxAge) ?? 0) / 1000}) or absent(${m})`,
    for: '5m',
    severity: 'critical',
    summary: `Cluster ${cluster} has no verified backup younger than ${maxAge}`,
    description:
      'Destination "{{ $labels.destination }}": the newest verified snapshot is older than backup.maxAge (or no agent reports one).',
    runbook:
      '`vaultctl snapshot status` names the failing destination and its last error; check that `vaultctl agent` runs and its log.',
  };
}

export function renderAlertRules(spec: ClusterSpec): string {
  const forOverride = spec.monitoring.alertFor;
  const doc = {
    groups: [
      {
        name: `vaultctl-${spec.name}`,
        rules: alertRules(spec).map((r) => ({
          alert: r.alert,
          expr: r.expr,
          for: forOverride ?? r.for,
          labels: { severity: r.severity, cluster: spec.name },
          annotations: { summary: r.summary, description: r.description, runbook: r.runbook },
        })),
      },
    ],
  };
  const header = [
    `# Alert rules for cluster ${spec.name}. Rendered by vaultctl; metric names are those OpenBao's`,
    '# /v1/sys/metrics?format=prometheus exports (checked against OpenBao 2.7.2).',
    ...(forOverride ? [`# Every alert's \`for\` is ${forOverride} (monitoring.alertFor).`] : []),
  ];
  return `${header.join('\n')}\n${stringify(doc, { lineWidth: 0 })}`;
}
