/**
 * The agent's Prometheus metrics, rendered from its status (so a scrape after a restart already
 * says when the last backup succeeded), served on 127.0.0.1 only.
 */
import { createServer, type Server } from 'node:http';
import type { DiskSample } from '../health/disk.js';
import type { AgentStatus } from './status.js';

const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
const secs = (iso: string | undefined) => (iso ? Date.parse(iso) / 1000 : 0);

/** The exposition text of a status. */
export function renderMetrics(s: AgentStatus, cluster: string): string {
  const lines: string[] = [];
  const metric = (name: string, type: string, help: string, rows: [Record<string, string>, number][]) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of rows) {
      const l = Object.entries({ cluster, ...labels })
        .map(([k, v]) => `${k}="${esc(v)}"`)
        .join(',');
      lines.push(`${name}{${l}} ${value}`);
    }
  };
  const dests = Object.entries(s.destinations);
  const jobs = Object.entries(s.jobs);
  metric(
    'vaultctl_backup_last_success_timestamp_seconds',
    'gauge',
    'Unix time of the newest verified snapshot at a destination (0: none yet).',
    dests.map(([d, st]) => [{ destination: d }, secs(st.lastSuccessAt)]),
  );
  metric(
    'vaultctl_backup_failures_total',
    'counter',
    'Backup runs that failed at a destination.',
    dests.map(([d, st]) => [{ destination: d }, st.totalFailures]),
  );
  metric(
    'vaultctl_backup_consecutive_failures',
    'gauge',
    'Backup runs in a row that failed at a destination.',
    dests.map(([d, st]) => [{ destination: d }, st.consecutiveFailures]),
  );
  metric(
    'vaultctl_backup_last_size_bytes',
    'gauge',
    'Bytes of the newest verified snapshot at a destination.',
    dests.map(([d, st]) => [{ destination: d }, st.lastSize ?? 0]),
  );
  metric(
    'vaultctl_backup_uploaded_bytes',
    'gauge',
    'Bytes sent to a destination by the last successful run.',
    dests.map(([d, st]) => [{ destination: d }, st.lastBytes ?? 0]),
  );
  metric(
    'vaultctl_agent_job_last_duration_seconds',
    'gauge',
    'Duration of the last run of a job.',
    jobs.map(([j, st]) => [{ job: j }, (st.lastDurationMs ?? 0) / 1000]),
  );
  metric(
    'vaultctl_agent_job_runs_total',
    'counter',
    'Runs of a job.',
    jobs.map(([j, st]) => [{ job: j }, st.totalRuns]),
  );
  metric(
    'vaultctl_agent_job_failures_total',
    'counter',
    'Failed runs of a job.',
    jobs.map(([j, st]) => [{ job: j }, st.totalFailures]),
  );
  metric(
    'vaultctl_agent_job_last_success_timestamp_seconds',
    'gauge',
    'Unix time of the last successful run of a job (0: none yet).',
    jobs.map(([j, st]) => [{ job: j }, secs(st.lastSuccessAt)]),
  );
  return `${lines.join('\n')}\n`;
}

/**
 * The disk job's gauges from its newest sample (none before its first run): per node and volume
 * (`audit`, `raft`), the volume's bytes and its filesystem's size and free space. The alerts
 * VaultAuditDiskFilling / VaultRaftDiskFilling predict from these series.
 */
export function renderDiskMetrics(sample: DiskSample | undefined, cluster: string): string {
  if (!sample) return '';
  const lines: string[] = [];
  const gauge = (name: string, help: string, value: (v: DiskSample['volumes'][number]) => number) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`);
    for (const v of sample.volumes)
      lines.push(`${name}{cluster="${esc(cluster)}",node="${esc(v.node)}",volume="${v.volume}"} ${value(v)}`);
  };
  gauge(
    'vaultctl_volume_used_bytes',
    "Bytes of the files in a node's audit or raft volume (du).",
    (v) => v.usedBytes,
  );
  gauge(
    'vaultctl_volume_fs_size_bytes',
    "Size of the filesystem behind a node's volume.",
    (v) => v.fsSizeBytes,
  );
  gauge(
    'vaultctl_volume_fs_avail_bytes',
    "Free bytes of the filesystem behind a node's volume (for unprivileged writers).",
    (v) => v.fsAvailBytes,
  );
  gauge(
    'vaultctl_volume_fs_used_bytes',
    "Used bytes of the filesystem behind a node's volume.",
    (v) => v.fsUsedBytes,
  );
  gauge(
    'vaultctl_volume_sample_timestamp_seconds',
    'Unix time of the disk measurement.',
    () => sample.at / 1000,
  );
  return `${lines.join('\n')}\n`;
}

/**
 * Serves /metrics on 127.0.0.1:port (in the agent container: every interface of the container,
 * whose port Docker publishes on the host's 127.0.0.1 only); resolves once listening.
 */
export async function serveMetrics(port: number, render: () => string, host = '127.0.0.1'): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.url === '/metrics' || req.url?.startsWith('/metrics?')) {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      res.end(render());
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}
