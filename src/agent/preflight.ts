/**
 * `checkBackupHost`: what the spec's `backup` section needs from this host, checked at render, up
 * and agent start (the schema cannot): every GPG public key file reads as a public key, every S3
 * credentials file exists with mode 0600 and holds keys. Every problem is reported at once.
 */
import { ConfigError, UsageError } from '../errors.js';
import { readGpgKey } from '../snapshot/gpg.js';
import type { BackupSpec } from '../spec/backup.js';
import { readCredentialsFile } from './s3-location.js';

export interface BackupHostFacts {
  /** Fingerprints of the GPG public keys, in the order of the spec's files. */
  readonly gpgFingerprints: readonly string[];
}

export async function checkBackupHost(
  backup: BackupSpec | undefined,
  env: NodeJS.ProcessEnv,
  doing = 'checking the backup section',
): Promise<BackupHostFacts> {
  if (!backup) return { gpgFingerprints: [] };
  const problems: { path: string; message: string }[] = [];
  const fingerprints: string[] = [];
  for (const [i, file] of (backup.encryption?.gpgPublicKeys ?? []).entries()) {
    try {
      fingerprints.push(...(await readGpgKey(file, doing, 'public')).fingerprints);
    } catch (err) {
      if (!(err instanceof UsageError)) throw err;
      problems.push({ path: `backup.encryption.gpgPublicKeys.${i}`, message: err.message });
    }
  }
  for (const [i, d] of backup.destinations.entries()) {
    if (!d.credentialsFile) continue;
    try {
      readCredentialsFile(d.credentialsFile, env.AWS_PROFILE || 'default');
    } catch (err) {
      const msg = err instanceof UsageError ? err.message : (err as Error).message;
      problems.push({
        path: `backup.destinations.${i}.credentialsFile`,
        message: `${d.credentialsFile}: ${msg}`,
      });
    }
  }
  if (problems.length > 0)
    throw new ConfigError(
      doing,
      problems,
      'GPG keys: `gpg --export --armor KEYID > key.asc`; credentials files: [default] aws_access_key_id / aws_secret_access_key, chmod 600',
    );
  return { gpgFingerprints: fingerprints };
}
