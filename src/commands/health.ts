import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import type { ClusterHealth } from '../health/health.js';
import { VERDICT_EXIT, waitForHealth } from '../health/health.js';
import type { NodeMetrics } from '../health/node-metrics.js';
import { readNodeMetrics } from '../health/node-metrics.js';
import { table, verdictColour } from '../output/format.js';
import { nodeMetricsAddress } from '../spec/names.js';
import { expiryWarnings, parseDays, readServedCertificate } from '../tls/expiry.js';
import type { CommandDeps, GlobalOptions } from './command-deps.js';
import { openTargetCluster, output } from './command-deps.js';
import { action, countFlag, durationFlag } from './flags.js';
import { diskSection, renderDisk } from './health-disk.js';
import { backupVerdict } from './snapshot-remote.js';

/** The --cert-warn threshold in days: the flag, else the spec's tls.expiryWarning, else 30. */
function certWarnDays(flag: string | undefined, specValue: string | undefined): number {
  const text = flag ?? specValue ?? '30d';
  try {
    return parseDays(text);
  } catch {
    throw new UsageError(
      'checking health',
      `--cert-warn ${JSON.stringify(text)} is not a number of days`,
      'give days such as --cert-warn 30d',
    );
  }
}

export interface HealthOptions {
  readonly addr?: string[];
  readonly wait?: string;
  readonly expect?: string;
  readonly metrics?: boolean;
  /** commander's --no-disk: false skips the volumes' measurement. */
  readonly disk?: boolean;
  readonly certWarn?: string;
}

export type MetricsByNode = Record<string, NodeMetrics | { error: string }>;

export function renderMetrics(metrics: MetricsByNode): string {
  const v = (x: number | boolean | undefined, digits = 0) =>
    x === undefined ? '-' : typeof x === 'boolean' ? (x ? 'yes' : 'no') : x.toFixed(digits);
  const rows = Object.entries(metrics).map(([name, m]) =>
    'error' in m
      ? [name, `error: ${m.error}`, '', '', '', '', '', '', '']
      : [
          name,
          v(m.unsealed),
          v(m.active),
          v(m.raftTerm),
          v(m.raftAppliedIndex),
          v(m.raftCommitIndex),
          v(m.failureTolerance),
          v(m.requestP99Ms, 1),
          v(m.auditFailures),
        ],
  );
  return table(
    ['NODE', 'UNSEALED', 'ACTIVE', 'TERM', 'APPLIED', 'COMMIT', 'TOLERANCE', 'P99 MS', 'AUDIT FAIL'],
    rows,
  );
}

export function renderHealth(h: ClusterHealth, cluster: string | undefined): string {
  const yesNo = (v: boolean | undefined) => (v === undefined ? '-' : v ? 'yes' : 'no');
  const rows = h.nodes.map((n) => [
    n.name,
    n.address,
    yesNo(n.reachable),
    yesNo(n.initialized),
    yesNo(n.sealed),
    !n.reachable ? '-' : n.active ? 'active' : n.initialized && !n.sealed ? 'standby' : '-',
    n.raftAppliedIndex !== undefined ? String(n.raftAppliedIndex) : '-',
    n.version ?? '-',
  ]);
  if (h.endpoint) {
    const e = h.endpoint;
    rows.push(['endpoint', e.address, yesNo(e.reachable), '-', '-', e.active ? 'active' : '-', '-', '-']);
  }
  const lines = [
    table(['NODE', 'ADDRESS', 'REACHABLE', 'INIT', 'SEALED', 'ROLE', 'APPLIED', 'VERSION'], rows),
    '',
  ];
  const facts: string[] = [];
  if (h.raft) {
    facts.push(`leader ${h.raft.leader ?? 'none'}`, `voters ${h.raft.voters.length}/${h.expectedVoters}`);
    if (h.raft.failureTolerance !== undefined) facts.push(`failure tolerance ${h.raft.failureTolerance}`);
    if (h.raft.autopilotHealthy !== undefined)
      facts.push(`autopilot ${h.raft.autopilotHealthy ? 'healthy' : 'unhealthy'}`);
  } else {
    facts.push(`${h.activeCount} active node(s)`);
  }
  lines.push(`Cluster${cluster ? ` ${cluster}` : ''}: ${verdictColour(h.verdict)} (${facts.join(', ')})`);
  for (const r of h.reasons) lines.push(`  - ${r}`);
  if (h.raftUnknown) lines.push(`  note: ${h.raftUnknown}`);
  // A hint only for what the user can mend (an http:// address of a TLS node), once per kind.
  for (const hint of new Set(
    h.nodes.flatMap((n) => (n.hint && !/is the node running/.test(n.hint) ? [n.hint] : [])),
  ))
    lines.push(`hint: ${hint}`);
  return lines.join('\n');
}

export async function run(global: GlobalOptions, opts: HealthOptions, deps: CommandDeps): Promise<number> {
  const expect = opts.expect !== undefined ? countFlag(opts.expect, 'expect', 1) : undefined;
  const waitMs = opts.wait ? durationFlag(opts.wait, 'wait') : 0;
  const cluster = openTargetCluster(global, opts.addr, deps, 'checking health');
  const expected = expect ?? cluster.expectedVoters;
  const token = await cluster.token();
  const tls = cluster.tls;
  // Least privilege: the metrics token when init made one.
  const metricsToken = cluster.state?.readMetricsToken();
  const targets = cluster.nodes;
  const warnDays = certWarnDays(opts.certWarn, cluster.spec?.tls.expiryWarning);
  const judged = await waitForHealth(targets, expected, {
    connect: cluster.connector,
    // Only for the containers vaultctl manages: their logs name a seal backend they cannot reach.
    logsOf: cluster.spec ? (name: string) => cluster.node(name).logs(60) : undefined,
    endpoint: cluster.endpoint?.address,
    token,
    tls,
    waitMs,
    signal: deps.signal,
    onPoll: (p) => {
      if (waitMs > 0 && p.verdict !== 'healthy')
        deps.progress.step(`waiting for a healthy cluster: ${p.verdict} (${p.reasons[0] ?? ''})`);
    },
  });
  // The agent's backups (spec.backup): a stale newest verified backup makes a healthy cluster degraded.
  const backup = cluster.spec && cluster.state ? backupVerdict(cluster.spec, cluster.state.root) : undefined;
  const withBackup =
    backup?.stale && judged.verdict === 'healthy'
      ? { ...judged, verdict: 'degraded' as const, reasons: [`backup: ${backup.detail}`] }
      : backup?.stale
        ? { ...judged, reasons: [...judged.reasons, `backup: ${backup.detail}`] }
        : judged;
  // The audit and raft volumes (managed clusters): a volume past the threshold makes it degraded.
  const disk =
    opts.disk !== false && cluster.spec && cluster.state
      ? await diskSection(cluster.spec, cluster.state.root, deps.runtime)
      : undefined;
  const diskReasons = disk?.volumes?.flatMap((v) => v.problems.map((p) => `disk: ${p}`)) ?? [];
  const withDisk =
    diskReasons.length > 0 && withBackup.verdict === 'healthy'
      ? { ...withBackup, verdict: 'degraded' as const, reasons: diskReasons }
      : { ...withBackup, reasons: [...withBackup.reasons, ...diskReasons] };
  // The certificates the nodes serve, from the TLS handshake (also for clusters given by address).
  const certificates = await Promise.all(targets.map((t) => readServedCertificate(t.name, t.address)));
  const expiring = expiryWarnings(certificates, warnDays);
  const h =
    expiring.length === 0
      ? withDisk
      : {
          ...withDisk,
          verdict: withDisk.verdict === 'healthy' ? ('degraded' as const) : withDisk.verdict,
          reasons: [...(withDisk.verdict === 'healthy' ? [] : withDisk.reasons), ...expiring],
        };
  let metrics: MetricsByNode | undefined;
  if (opts.metrics) {
    const withToken = metricsToken ?? token;
    const read = await Promise.all(
      // A managed node's own metrics come from its metrics listener (a standby forwards the API's).
      targets.map((t) =>
        readNodeMetrics(t.spec && cluster.spec ? nodeMetricsAddress(cluster.spec, t.spec) : t.address, {
          token: withToken,
          tls,
          timeoutMs: 3000,
        }),
      ),
    );
    metrics = Object.fromEntries(targets.map((t, i) => [t.name, read[i]!]));
  }
  deps.progress.stop();
  output(global, deps)(
    {
      cluster: cluster.name,
      ...h,
      certificates: certificates.filter(
        (c) => c.validTo || c.error !== 'plain HTTP: the node serves no certificate',
      ),
      certWarnDays: warnDays,
      ...(backup ? { backup } : {}),
      ...(disk ? { disk } : {}),
      ...(metrics ? { metrics } : {}),
      exitCode: VERDICT_EXIT[h.verdict],
    },
    () => {
      const lines: string[] = [];
      lines.push(
        // A cluster given by addresses has no name: it is named by the addresses asked.
        renderHealth(h, cluster.name ?? `at ${targets.map((t) => t.address).join(', ')}`),
      );
      if (backup) lines.push(`Backups: ${backup.stale ? 'STALE: ' : ''}${backup.detail}`);
      if (disk) lines.push(renderDisk(disk));
      const served = certificates.filter((c) => c.validTo);
      if (served.length > 0)
        lines.push(
          `Certificates: ${served.map((c) => `${c.node} until ${c.validTo!.slice(0, 10)} (${c.daysLeft} d)`).join(', ')}`,
        );
      if (metrics) lines.push(`\nMetrics (/v1/sys/metrics):\n${renderMetrics(metrics)}`);
      return lines;
    },
  );
  return VERDICT_EXIT[h.verdict];
}

export function register(program: Command, deps: CommandDeps): void {
  program
    .command('health')
    .summary('per-node facts and one cluster verdict (exit 0 healthy, 1 degraded, 2 down)')
    .description(
      'Checks every node (reachable, initialised, sealed, active/standby, raft applied index, version) and, with a token, raft ' +
        'voters, failure tolerance and autopilot. Exit 0 healthy, 1 degraded (quorum holds, something is wrong), 2 down. ' +
        'Targets: --addr, else BAO_ADDR/VAULT_ADDR, else the nodes of the cluster spec. Token: BAO_TOKEN/VAULT_TOKEN, else the state dir.\n\n' +
        "With --metrics it also reads each node's /v1/sys/metrics (with the metrics token from init, else the API token) and " +
        'shows unsealed, active, raft term and indexes, failure tolerance, request p99 and audit failures per node.\n\n' +
        "For a cluster vaultctl manages it measures each node's audit and raft volume (a read-only busybox helper: du and the " +
        "filesystem size/free) and the time to full at the growth rate since the agent's last sample; degraded at " +
        'monitoring.diskMaxUsedPercent (80) or under monitoring.diskMinTimeToFull (24h). --no-disk skips it.\n\n' +
        "Certificates: each node's served certificate is read from the TLS handshake; one that expires within --cert-warn " +
        '(default tls.expiryWarning, 30d) makes the cluster degraded, naming the node, subject and expiry date.\n\n' +
        'Example:\n  $ vaultctl health --wait 60s\n  $ vaultctl health --addr http://127.0.0.1:8200,http://127.0.0.1:8202 --format json\n' +
        '  $ vaultctl health --metrics',
    )
    .option('--addr <url...>', 'node addresses (repeat or comma-separate); any reachable cluster')
    .option('--wait <duration>', 'poll until healthy or this long has passed (e.g. 60s)')
    .option('--expect <voters>', 'number of voters a healthy cluster has (default: the node count)')
    .option('--metrics', 'also show a few key metrics per node from /v1/sys/metrics')
    .option('--no-disk', "skip the audit and raft volumes' measurement")
    .option(
      '--cert-warn <days>',
      'degraded when a served certificate expires within this (e.g. 30d; default tls.expiryWarning, else 30d)',
    )
    .action(action(deps.setExitCode, (global, opts: HealthOptions) => run(global, opts, deps)));
}
