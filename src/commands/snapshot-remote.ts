/**
 * The snapshot subcommands about the agent's backups: `snapshot status` (per destination), and the
 * S3 side of `snapshot list --from s3://...` and `snapshot restore s3://...` (download to a 0700
 * temp dir with its sidecar, then the very same verification and refusals as a local restore).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import type { Command } from 'commander';
import type { Destination } from '../agent/destination.js';
import { parseS3Url } from '../agent/s3-location.js';
import { readStatus } from '../agent/status.js';
import { UsageError } from '../errors.js';
import { table } from '../output/format.js';
import type { BackupSpec } from '../spec/backup.js';
import { parseDurationMs } from '../spec/schedule.js';
import type { ClusterSpec } from '../spec/schema.js';
import type { CommandDeps, GlobalOptions } from './command-deps.js';
import { loadClusterSpec, output } from './command-deps.js';
import { action } from './flags.js';

/** The spec's settings for an s3:// URL (region, endpoint, credentials), if a destination matches. */
export function s3Settings(spec: ClusterSpec | undefined, url: string): BackupSpec['destinations'][number] {
  const { bucket } = parseS3Url(url);
  const d = spec?.backup?.destinations.find(
    (x) => x.url.startsWith('s3://') && parseS3Url(x.url).bucket === bucket,
  );
  return d ? { ...d, url } : { url };
}

function trySpec(global: GlobalOptions, deps: CommandDeps): ClusterSpec | undefined {
  try {
    return loadClusterSpec(global, {}, deps, 'reading the spec').spec;
  } catch {
    return undefined;
  }
}

async function s3Destination(global: GlobalOptions, url: string, deps: CommandDeps): Promise<Destination> {
  const d = s3Settings(trySpec(global, deps), url);
  const { S3Destination } = await import('../agent/s3-destination.js');
  return new S3Destination(
    url,
    {
      region: d.region ?? deps.env.AWS_REGION,
      endpoint: d.endpoint ?? deps.env.AWS_ENDPOINT_URL_S3 ?? deps.env.AWS_ENDPOINT_URL,
      credentialsFile: d.credentialsFile,
    },
    deps.env,
  );
}

/** `snapshot list --from s3://bucket/prefix` (or a directory the agent writes to). */
export async function runListFrom(global: GlobalOptions, from: string, deps: CommandDeps): Promise<number> {
  const dest = from.startsWith('s3://')
    ? await s3Destination(global, from, deps)
    : // The agent module (snapshot save, age) loads only here: `health` reads backupVerdict from this file.
      await (await import('../agent/agent.js')).makeDestination(
        { url: resolve(deps.cwd, from.replace(/^file:\/\//, '')) },
        deps.env,
      );
  const list = await dest.list(deps.signal);
  output(global, deps)(
    list.map((s) => ({ url: s.url, ...s.meta })),
    () =>
      list.length === 0
        ? `No verified snapshots in ${from}.`
        : table(
            ['SNAPSHOT', 'CREATED', 'SIZE', 'CLUSTER', 'RAFT INDEX', 'ENCRYPTED', 'VERIFIED'],
            list.map((s) => [
              s.url,
              s.meta.createdAt,
              String(s.meta.size),
              s.meta.cluster,
              String(s.meta.raftIndex ?? '-'),
              s.meta.encrypted ? (s.meta.encrypted.format ?? 'openssl') : 'no',
              s.meta.verified.at,
            ]),
          ),
  );
  return 0;
}

/** Downloads s3://bucket/key (and its sidecar) into a private temp dir; `cleanup` removes it. */
export async function downloadS3Snapshot(
  global: GlobalOptions,
  url: string,
  deps: CommandDeps,
): Promise<{ file: string; cleanup: () => void }> {
  const { key } = parseS3Url(url);
  if (!key || key.endsWith('/'))
    throw new UsageError(
      `restoring ${url}`,
      'the address names a prefix, not a snapshot',
      `vaultctl snapshot list --from ${url} lists the snapshots there`,
    );
  const dest = await s3Destination(global, url.slice(0, url.length - basename(key).length), deps);
  const dir = mkdtempSync(join(tmpdir(), 'vaultctl-restore-'));
  const file = join(dir, basename(key));
  deps.progress.step(`downloading ${url}`);
  try {
    await dest.fetch(key, file, deps.signal);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return { file, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

const age = (iso: string | undefined, now: number) => {
  if (!iso) return '-';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172_800) return `${(s / 3600).toFixed(1)}h`;
  return `${(s / 86_400).toFixed(1)}d`;
};

export interface BackupVerdict {
  readonly newestSuccessAt?: string | undefined;
  readonly stale: boolean;
  readonly maxAge: string;
  readonly detail: string;
}

/** Whether the newest verified backup (over all destinations) is older than backup.maxAge. */
export function backupVerdict(
  spec: ClusterSpec,
  stateRoot: string,
  now = Date.now(),
): BackupVerdict | undefined {
  if (!spec.backup) return undefined;
  const st = readStatus(stateRoot);
  const times = Object.values(st?.destinations ?? {})
    .map((d) => d.lastSuccessAt)
    .filter((t): t is string => Boolean(t))
    .sort();
  const newestAt = times.at(-1);
  const maxMs = parseDurationMs(spec.backup.maxAge) ?? 0;
  const stale = !newestAt || now - Date.parse(newestAt) > maxMs;
  const detail = newestAt
    ? `newest verified backup ${age(newestAt, now)} ago (max ${spec.backup.maxAge})`
    : `no verified backup yet (max age ${spec.backup.maxAge}); is \`vaultctl agent\` running?`;
  return { newestSuccessAt: newestAt, stale, maxAge: spec.backup.maxAge, detail };
}

export async function runStatus(global: GlobalOptions, deps: CommandDeps): Promise<number> {
  const { spec, state } = loadClusterSpec(global, {}, deps, 'reading the backup status');
  if (!spec.backup)
    throw new UsageError(
      'reading the backup status',
      `the spec of ${spec.name} has no backup section`,
      'add backup: {schedule, destinations} to vaultctl.yaml and run `vaultctl agent`',
    );
  const st = readStatus(state.root);
  const now = Date.now();
  const verdict = backupVerdict(spec, state.root, now)!;
  const job = st?.jobs.backup;
  const schedule = spec.backup.schedule;
  const rows = spec.backup.destinations.map((d) => ({ url: d.url, ...(st?.destinations[d.url] ?? {}) }));
  output(global, deps)(
    {
      schedule: spec.backup.schedule,
      nextRunAt: job?.nextRunAt,
      job,
      stale: verdict.stale,
      destinations: rows,
    },
    () => [
      table(
        ['DESTINATION', 'LAST SUCCESS', 'AGE', 'SIZE', 'NEXT RUN', 'FAILURES', 'LAST ERROR'],
        rows.map((r) => [
          r.url,
          r.lastSuccessAt ?? 'never',
          age(r.lastSuccessAt, now),
          r.lastSize === undefined ? '-' : String(r.lastSize),
          job?.nextRunAt ?? '-',
          String(r.consecutiveFailures ?? 0),
          (r.lastError ?? '').slice(0, 120),
        ]),
      ),
      `\nBackups of ${spec.name} (${schedule}): ${verdict.stale ? 'STALE: ' : ''}${verdict.detail}.`,
    ],
  );
  return verdict.stale ? 1 : 0;
}

export function registerStatus(snap: Command, deps: CommandDeps): void {
  snap
    .command('status')
    .summary("the agent's backups per destination: last success, age, size, next run, failures, last error")
    .description(
      'Reads the status `vaultctl agent` keeps in the state dir. Exit 0 when the newest verified backup is younger than ' +
        'backup.maxAge, 1 when it is older (or there is none).\n\nExample:\n  $ vaultctl snapshot status\n  $ vaultctl snapshot status --format json',
    )
    .action(action(deps.setExitCode, (global) => runStatus(global, deps)));
}
