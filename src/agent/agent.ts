/**
 * `runAgent`: the cluster's scheduled work, as jobs of one runner: `backup` (the spec's
 * schedule), `agent-token` (renews the agent's own periodic token hourly), and the renewals
 * (renew-jobs.ts: `certificates`, `transit-token`), each run only when its expiry is due.
 */
import type { Server } from 'node:http';
import { join } from 'node:path';
import { readAgentToken } from '../bootstrap/agent-token.js';
import type { Progress } from '../cluster/events.js';
import type { ManagedCluster, RunningCluster } from '../cluster/running.js';
import { RemoteError, UsageError } from '../errors.js';
import { readDiskSamples } from '../health/disk-probe.js';
import { saveSnapshot } from '../snapshot/save.js';
import type { BackupSpec } from '../spec/backup.js';
import { parseDurationMs, parseSchedule } from '../spec/schedule.js';
import type { ClusterSpec } from '../spec/schema.js';
import type { StateDir } from '../state/state-dir.js';
import { auditRotateJob } from './audit-job.js';
import { type AcquireLock, BACKUP_JOB, type BackupTarget, runBackup, type SaveInto } from './backup-job.js';
import type { Destination } from './destination.js';
import { DirDestination } from './dir-destination.js';
import { diskJob } from './disk-job.js';
import type { Logger } from './log.js';
import { renderDiskMetrics, renderMetrics, serveMetrics } from './metrics.js';
import { checkBackupHost } from './preflight.js';
import { renewalJobs } from './renew-jobs.js';
import { type Job, JobRunner, type WallClock, wallClock } from './runner.js';
import { AGENT_DIR, StatusStore } from './status.js';

/** A destination for a spec entry; the AWS SDK is loaded only for an s3:// one. */
export async function makeDestination(
  d: BackupSpec['destinations'][number],
  env: NodeJS.ProcessEnv,
): Promise<Destination> {
  if (d.url.startsWith('s3://')) {
    const { S3Destination } = await import('./s3-destination.js');
    return new S3Destination(
      d.url,
      { region: d.region, endpoint: d.endpoint, credentialsFile: d.credentialsFile },
      env,
    );
  }
  return new DirDestination(d.url);
}

const quiet: Progress = { step() {}, done() {}, info() {}, warn() {}, debug() {} };

export interface AgentDeps {
  /** Managed on the host; known by its addresses inside the agent's container (no runtime there). */
  readonly cluster: RunningCluster;
  readonly spec: ClusterSpec;
  readonly state: StateDir;
  readonly env: NodeJS.ProcessEnv;
  readonly log: Logger;
  readonly clock?: WallClock;
  /** The operation lock (src/lock/): wired by the caller; absent, backups take none. */
  readonly lock?: AcquireLock | undefined;
}

export interface AgentOptions {
  /** Overrides backup.metricsPort (0: no endpoint). */
  readonly metricsPort?: number | undefined;
  /** Run the backup once now and return (exit code from its result). */
  readonly once?: boolean | undefined;
  /** Where the metrics listen (default 127.0.0.1; 0.0.0.0 inside the agent container). */
  readonly metricsHost?: string | undefined;
  /**
   * Run the jobs that need the host (default true): certificate and transit-token renewal, the disk
   * job and audit rotation (the Docker Engine, the unsealer's and TLS material of the state dir). The
   * agent's own container has none of these: there `vaultctl up`, `vaultctl health` and
   * `vaultctl audit rotate` (e.g. from cron) do that work.
   */
  readonly hostJobs?: boolean | undefined;
}

export interface PreparedAgent {
  readonly runner: JobRunner;
  readonly store: StatusStore;
  readonly backup: Job;
}

/** Validates what the agent needs (spec, host, token) and builds its jobs; changes nothing. */
export async function prepareAgent(
  deps: AgentDeps,
  opts: Pick<AgentOptions, 'hostJobs'> = {},
): Promise<PreparedAgent> {
  const doing = 'starting the agent';
  const { spec, state, env, log, cluster } = deps;
  const clock = deps.clock ?? wallClock;
  const backup = spec.backup;
  if (!backup)
    throw new UsageError(
      doing,
      `the spec of ${spec.name} has no backup section: the agent would have nothing to do`,
      'add backup: {schedule, destinations, ...} to vaultctl.yaml (see config/vaultctl.example.yaml), then `vaultctl init` creates the agent token',
    );
  const facts = await checkBackupHost(backup, env, doing);
  const token = readAgentToken(state);
  if (!token)
    throw new UsageError(
      doing,
      `no agent token in ${join(state.root, AGENT_DIR, 'token')}`,
      '`vaultctl init` creates it (a periodic token that can read snapshots only); the agent never uses the root token',
    );
  const store = new StatusStore(state.root, clock.now());
  const targets: BackupTarget[] = [];
  for (const d of backup.destinations)
    targets.push({
      destination: await makeDestination(d, env),
      retention: { keep: d.keep, maxAgeMs: d.maxAge ? parseDurationMs(d.maxAge) : undefined },
    });
  const gpgKeys = backup.encryption?.gpgPublicKeys ?? [];
  const save: SaveInto = async (dir, signal) => {
    const serving = await cluster.servingNode('saving a snapshot', token);
    if (serving.standby)
      throw new RemoteError(
        'saving a snapshot',
        `no active node (${serving.problems.join(', ') || 'no leader'}): a snapshot from a standby may miss acknowledged writes`,
        'the next run tries again; `vaultctl health` shows the cluster',
      );
    const meta = await saveSnapshot(
      spec,
      state,
      { api: serving.api, token, tls: cluster.tls, progress: quiet, signal },
      {
        dir,
        ...(backup.encryption?.ageRecipients?.length ? { recipients: backup.encryption.ageRecipients } : {}),
        ...(gpgKeys.length > 0 ? { gpg: { keyFiles: gpgKeys, fingerprints: facts.gpgFingerprints } } : {}),
      },
    );
    return { file: join(dir, meta.file), meta };
  };
  const backupJob: Job = {
    name: BACKUP_JOB,
    schedule: parseSchedule(backup.schedule),
    jitterMs: parseDurationMs(backup.jitter) ?? 0,
    timeoutMs: parseDurationMs(backup.timeout) ?? 3_600_000,
    run: (signal) =>
      runBackup(
        {
          stagingDir: join(state.root, AGENT_DIR, 'staging'),
          save,
          targets,
          store,
          log,
          clock,
          lock: deps.lock,
        },
        signal,
      ),
  };
  const renewJob: Job = {
    name: 'agent-token',
    schedule: parseSchedule('@every 1h'),
    jitterMs: 0,
    timeoutMs: 60_000,
    run: async () => {
      const serving = await cluster.servingNode('renewing the agent token', token);
      await serving.api.write('auth/token/renew-self', {}, 'renewing the agent token');
    },
  };
  // Certificates and the transit token: renewed when due, whatever the backup schedule. They, the
  // disk job and audit rotation need the host (the Docker Engine, the state dir's unsealer and TLS
  // material): the agent's own container leaves them out.
  const managed =
    (cluster as Partial<ManagedCluster>).managed === true ? (cluster as ManagedCluster) : undefined;
  const hostJobs =
    opts.hostJobs === false || !managed
      ? []
      : [
          ...renewalJobs({ cluster: managed, spec, state, log, now: () => clock.now() }),
          diskJob({ spec, state, cluster, log }),
          auditRotateJob({ spec, cluster, log }),
        ];
  const runner = new JobRunner([backupJob, renewJob, ...hostJobs], { store, log, clock });
  return { runner, store, backup: backupJob };
}

/** Runs the agent until `signal` aborts (or once, with `once`). Returns false when `once` failed. */
export async function runAgent(deps: AgentDeps, opts: AgentOptions, signal: AbortSignal): Promise<boolean> {
  const { spec, log } = deps;
  const prepared = await prepareAgent(deps, opts);
  const port = opts.metricsPort ?? spec.backup?.metricsPort ?? 0;
  let server: Server | undefined;
  if (port > 0) {
    try {
      server = await serveMetrics(
        port,
        () =>
          renderMetrics(prepared.store.status, spec.name) +
          renderDiskMetrics(readDiskSamples(deps.state.root).at(-1), spec.name),
        opts.metricsHost ?? '127.0.0.1',
      );
    } catch (err) {
      throw new UsageError(
        'starting the agent',
        `cannot listen on 127.0.0.1:${port} for metrics: ${(err as Error).message}`,
        'choose another backup.metricsPort (or --metrics-port)',
      );
    }
    log.info('metrics', { url: `http://${opts.metricsHost ?? '127.0.0.1'}:${port}/metrics` });
  }
  try {
    log.info('agent started', { cluster: spec.name, schedule: spec.backup?.schedule, pid: process.pid });
    if (opts.once) return await prepared.runner.runOne(prepared.backup, Date.now(), signal);
    await prepared.runner.run(signal);
    return true;
  } finally {
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  }
}
