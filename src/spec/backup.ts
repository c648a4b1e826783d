/**
 * The spec's `backup` section: what `vaultctl agent` does on a schedule. Checked by the schema (a
 * cron that is not one, an unknown destination scheme, a bad duration) before anything runs; what
 * needs the host (a GPG key file that cannot be read, a credentials file others can read) is
 * checked by `checkBackupHost` (src/agent/preflight.ts) at render, up and agent start.
 */
import { z } from 'zod';
import { parseDurationMs, parseSchedule, ScheduleError } from './schedule.js';

const longDuration = z
  .string()
  .refine((s) => parseDurationMs(s) !== undefined, 'expected a duration such as 90s, 15m, 26h or 7d')
  .describe('duration');

const schedule = z.string().superRefine((s, ctx) => {
  try {
    parseSchedule(s);
  } catch (err) {
    if (!(err instanceof ScheduleError)) throw err;
    ctx.addIssue({ code: 'custom', message: `not a schedule: ${err.message}` });
  }
});

/** The schemes a destination URL may have. */
export const DESTINATION_SCHEMES = ['file', 's3'] as const;

const destinationUrl = z.string().superRefine((s, ctx) => {
  if (s.startsWith('/')) return;
  const m = /^([a-z][a-z0-9+.-]*):\/\//i.exec(s);
  if (!m) {
    ctx.addIssue({
      code: 'custom',
      message: 'expected an absolute directory (/var/backups/vault, file:///...) or s3://bucket/prefix',
    });
    return;
  }
  const scheme = m[1]!.toLowerCase();
  if (!(DESTINATION_SCHEMES as readonly string[]).includes(scheme)) {
    ctx.addIssue({
      code: 'custom',
      message: `unknown destination scheme "${scheme}://": use an absolute directory (or file://) or s3://bucket/prefix`,
    });
    return;
  }
  if (scheme === 's3' && !/^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/.*)?$/.test(s))
    ctx.addIssue({
      code: 'custom',
      message:
        'expected s3://bucket/prefix with a bucket name of 3-63 lowercase letters, digits, dots or dashes',
    });
  if (scheme === 'file' && !s.startsWith('file:///'))
    ctx.addIssue({ code: 'custom', message: 'expected file:///absolute/path' });
});

const destination = z.strictObject({
  /** An absolute directory (or file:///dir), or s3://bucket/prefix. */
  url: destinationUrl,
  /** Keep the newest N verified snapshots here (never fewer than one). */
  keep: z.number().int().min(1).optional(),
  /** Remove verified snapshots older than this (never the newest verified one). */
  maxAge: longDuration.optional(),
  /** s3: the bucket's region. */
  region: z.string().min(1).optional(),
  /** s3: an S3-compatible endpoint (moto, MinIO, ...); path-style addressing is then used. */
  endpoint: z.string().url().optional(),
  /**
   * s3: an AWS shared credentials file (0600, absolute path; AWS_PROFILE picks the profile),
   * the same rules as seal.awskms.credentialsFile. Absent: the AWS_* environment variables.
   */
  credentialsFile: z.string().regex(/^\//, 'expected an absolute path').optional(),
});

export const backupSchema = z.strictObject({
  /** A 5-field cron expression in UTC (`0 2 * * *`) or an interval (`@every 15m`). */
  schedule,
  /** Each run starts up to this much later than scheduled, at random (spreads many clusters). */
  jitter: longDuration.default('0s'),
  /** `health` is degraded and VaultBackupStale fires when the newest verified backup is older. */
  maxAge: longDuration.default('26h'),
  destinations: z.array(destination).min(1, 'expected at least one destination'),
  encryption: z
    .strictObject({
      /** age X25519 recipients (age1...). */
      ageRecipients: z.array(z.string().min(1)).optional(),
      /** Files holding GPG public keys (armored or binary) to encrypt to. */
      gpgPublicKeys: z.array(z.string().regex(/^\//, 'expected an absolute path')).optional(),
    })
    .optional(),
  /** The agent's Prometheus metrics on 127.0.0.1 (0: none). */
  metricsPort: z.number().int().min(0).max(65535).default(0),
  /** How much time a run may take before it is aborted. */
  timeout: longDuration.default('1h'),
});

export type BackupSpec = z.output<typeof backupSchema>;
export type DestinationSpec = BackupSpec['destinations'][number];

/** The cross-field rules of `backup` (run after the schema): each problem with its dotted path. */
export function backupRules(b: BackupSpec): { path: string; message: string }[] {
  const out: { path: string; message: string }[] = [];
  const age = b.encryption?.ageRecipients ?? [];
  const gpg = b.encryption?.gpgPublicKeys ?? [];
  if (age.length > 0 && gpg.length > 0)
    out.push({
      path: 'backup.encryption',
      message: 'give age recipients or GPG public keys, not both (a snapshot has one encryption format)',
    });
  for (const [i, r] of age.entries()) {
    if (/^AGE-SECRET-KEY-/i.test(r))
      out.push({
        path: `backup.encryption.ageRecipients.${i}`,
        message: 'an age secret key, not a recipient: give the public key (age-keygen -y KEYFILE)',
      });
    else if (!/^age1[02-9ac-hj-np-z]{58}$/.test(r))
      out.push({
        path: `backup.encryption.ageRecipients.${i}`,
        message: 'not an age X25519 recipient (age1 followed by 58 characters)',
      });
  }
  const seen = new Set<string>();
  for (const [i, d] of b.destinations.entries()) {
    const at = `backup.destinations.${i}`;
    if (seen.has(d.url)) out.push({ path: `${at}.url`, message: `${d.url} is listed twice` });
    seen.add(d.url);
    const s3 = d.url.startsWith('s3://');
    if (s3 && !d.region) out.push({ path: `${at}.region`, message: 'an s3:// destination needs a region' });
    if (!s3)
      for (const k of ['region', 'endpoint', 'credentialsFile'] as const)
        if (d[k] !== undefined)
          out.push({ path: `${at}.${k}`, message: `only for s3:// destinations, not a directory` });
  }
  return out;
}
