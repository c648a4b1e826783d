/**
 * What S3 destinations share without loading the AWS SDK (it costs every CLI start about 20 MB and
 * its load time): the s3:// address, the client options and the credentials file.
 */
import { readFileSync, statSync } from 'node:fs';
import { UsageError } from '../errors.js';

export interface S3Location {
  readonly bucket: string;
  /** '' or ending in '/'. */
  readonly prefix: string;
}

/** s3://bucket/prefix -> bucket and a prefix ending in '/' (or ''). */
export function parseS3Url(url: string): S3Location & { key: string } {
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(url);
  if (!m)
    throw new UsageError(
      'reading an s3:// address',
      `"${url}" is not s3://bucket/prefix`,
      'give s3://bucket/prefix (a destination) or s3://bucket/key (a snapshot)',
    );
  const rest = m[2] ?? '';
  return { bucket: m[1]!, prefix: rest === '' || rest.endsWith('/') ? rest : `${rest}/`, key: rest };
}

export interface S3Options {
  readonly region?: string | undefined;
  readonly endpoint?: string | undefined;
  readonly credentialsFile?: string | undefined;
}

/**
 * Credentials from an AWS shared credentials file (the profile AWS_PROFILE names, else default),
 * or undefined to let the SDK read the AWS_* environment.
 */
export function readCredentialsFile(
  file: string,
  profile: string,
): { accessKeyId: string; secretAccessKey: string; sessionToken?: string } {
  const doing = `reading the S3 credentials file ${file}`;
  const st = statSync(file);
  if ((st.mode & 0o077) !== 0)
    throw new UsageError(
      doing,
      `mode 0${(st.mode & 0o777).toString(8)}: other users of this host can read the keys`,
      `chmod 600 ${file}`,
    );
  let section = '';
  const values: Record<string, string> = {};
  for (const raw of readFileSync(file, 'utf8').split(/\r?\n/)) {
    const line = raw.trim();
    const head = /^\[(.+)\]$/.exec(line);
    if (head) {
      section = head[1]!.trim();
      continue;
    }
    const kv = /^([a-z_]+)\s*=\s*(.*)$/.exec(line);
    if (kv && section === profile) values[kv[1]!] = kv[2]!.trim();
  }
  const id = values.aws_access_key_id;
  const secret = values.aws_secret_access_key;
  if (!id || !secret)
    throw new UsageError(
      doing,
      `profile [${profile}] has no aws_access_key_id and aws_secret_access_key`,
      'write [default] with aws_access_key_id = ... and aws_secret_access_key = ... (AWS_PROFILE picks another profile)',
    );
  return {
    accessKeyId: id,
    secretAccessKey: secret,
    ...(values.aws_session_token ? { sessionToken: values.aws_session_token } : {}),
  };
}
