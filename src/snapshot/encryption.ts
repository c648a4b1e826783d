/**
 * Snapshot encryption, in two formats, both restorable with standard tools:
 * - with a passphrase, OpenSSL's `enc` format (AES-256-CBC, key and IV from PBKDF2-HMAC-SHA256 with
 *   a random salt), `X.snap.enc`:
 *     openssl enc -d -aes-256-cbc -pbkdf2 -iter 200000 -md sha256 -pass file:PASSFILE -in X.snap.enc -out X.snap
 * - to age X25519 recipients (public keys), the age format (age-encryption.org/v1), `X.snap.age`:
 *     age -d -i key.txt -o X.snap X.snap.age
 * The passphrase, the recipients and the identities come from files or the environment, never argv.
 */
import { pbkdf2Sync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Decrypter, Encrypter } from 'age-encryption';
import { errorMessage, UsageError } from '../errors.js';
import type { SnapshotEncryption } from './meta.js';

const PBKDF2_ITER = 200_000;
export const MAGIC = Buffer.from('Salted__');
/** An age X25519 recipient: "age1" and 58 bech32 characters (lowercase). */
const AGE_RECIPIENT = /^age1[02-9ac-hj-np-z]{58}$/;
/** An age X25519 identity as age-keygen writes it: "AGE-SECRET-KEY-1" and 58 bech32 characters. */
const AGE_IDENTITY = /^AGE-SECRET-KEY-1[02-9AC-HJ-NP-Z]{58}$/;

/** The passphrase: the first line of a file, or an environment variable; never argv. */
export function readPassphrase(file: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new UsageError(
        'reading the snapshot passphrase',
        errorMessage(err),
        '--passphrase-file takes a file whose first line is the passphrase',
      );
    }
    const first = text.split(/\r?\n/)[0] ?? '';
    if (first.length < 8)
      throw new UsageError(
        'reading the snapshot passphrase',
        'shorter than 8 characters',
        'use at least 8 characters (the first line of the file is the passphrase)',
      );
    return first;
  }
  const v = env.VAULTCTL_SNAPSHOT_PASSPHRASE;
  return v ? v : undefined;
}

/**
 * age recipients from `--encrypt-to` values (comma-separated) and a recipients file (age's format:
 * one per line, `#` comments, blank lines). Only X25519 recipients (`age1...`): Debian's age 1.1
 * decrypts those. Deduplicated, in order. Throws a UsageError naming the bad entry's place, never
 * its text (someone may paste a secret key by mistake).
 */
export function parseRecipients(
  encryptTo: readonly string[],
  file?: { readonly path: string; readonly text: string },
): string[] {
  const doing = 'reading the age recipients';
  const entries: { value: string; where: string }[] = [];
  let n = 0;
  for (const arg of encryptTo) {
    for (const part of arg.split(',')) {
      n++;
      const value = part.trim();
      if (value) entries.push({ value, where: `entry ${n} of --encrypt-to` });
    }
  }
  if (file) {
    for (const [i, line] of file.text.split(/\r?\n/).entries()) {
      const value = line.trim();
      if (value && !value.startsWith('#')) entries.push({ value, where: `line ${i + 1} of ${file.path}` });
    }
  }
  const out: string[] = [];
  for (const { value, where } of entries) {
    if (value.toUpperCase().startsWith('AGE-SECRET-KEY-')) {
      throw new UsageError(
        doing,
        `${where} is an age secret key, not a recipient`,
        'give the public key (`age-keygen -y KEYFILE` prints it); keep the secret key out of argv and recipient files',
      );
    }
    if (!AGE_RECIPIENT.test(value) || !validAgeRecipient(value)) {
      throw new UsageError(
        doing,
        `${where} is not an age X25519 recipient`,
        'recipients look like age1 followed by 58 characters, as `age-keygen` prints them',
      );
    }
    if (!out.includes(value)) out.push(value);
  }
  if (encryptTo.length + (file ? 1 : 0) > 0 && out.length === 0)
    throw new UsageError(
      doing,
      `no recipient in ${file ? file.path : '--encrypt-to'}`,
      'give age1... recipients (age-keygen -y KEYFILE prints the one of a key)',
    );
  return out;
}

function validAgeRecipient(r: string): boolean {
  try {
    new Encrypter().addRecipient(r);
    return true;
  } catch {
    return false;
  }
}

/**
 * age identities from the text of an identity file as age-keygen writes it (`AGE-SECRET-KEY-1...`
 * lines, `#` comments, blank lines). Errors name the line, never its text.
 */
export function parseIdentities(text: string, path: string): string[] {
  const doing = 'reading the age identity';
  const out: string[] = [];
  for (const [i, line] of text.split(/\r?\n/).entries()) {
    const value = line.trim();
    if (!value || value.startsWith('#')) continue;
    if (value.startsWith('age1')) {
      throw new UsageError(
        doing,
        `line ${i + 1} of ${path} is a recipient (a public key), not an identity`,
        '--identity takes the secret key file written by `age-keygen -o key.txt`',
      );
    }
    if (!AGE_IDENTITY.test(value) || !validAgeIdentity(value))
      throw new UsageError(
        doing,
        `line ${i + 1} of ${path} is not an age X25519 identity (AGE-SECRET-KEY-1...)`,
        'give the key file age-keygen wrote (comments start with #)',
      );
    if (!out.includes(value)) out.push(value);
  }
  if (out.length === 0)
    throw new UsageError(
      doing,
      `${path} holds no identity`,
      '--identity takes the secret key file written by `age-keygen -o key.txt`',
    );
  return out;
}

function validAgeIdentity(id: string): boolean {
  try {
    new Decrypter().addIdentity(id);
    return true;
  } catch {
    return false;
  }
}

/** age identities: the file `--identity` names, or the file VAULTCTL_SNAPSHOT_IDENTITY names; never argv. */
export function readIdentities(file: string | undefined, env: NodeJS.ProcessEnv): string[] | undefined {
  const doing = 'reading the age identity';
  let path = file;
  if (!path) {
    const v = env.VAULTCTL_SNAPSHOT_IDENTITY;
    if (!v) return undefined;
    // A key pasted into the variable: say so without repeating it (an error would print the "path").
    if (/AGE-SECRET-KEY-/i.test(v))
      throw new UsageError(
        doing,
        'VAULTCTL_SNAPSHOT_IDENTITY holds a key, not the path of a key file',
        'set it to the path of the file age-keygen wrote',
      );
    path = v;
  }
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(
      doing,
      errorMessage(err),
      '--identity (or VAULTCTL_SNAPSHOT_IDENTITY) takes the path of the key file age-keygen wrote',
    );
  }
  return parseIdentities(text, path);
}

/** One encryption for a save: a passphrase or age recipients, never both. */
export function chooseEncryption(
  passphrase: string | undefined,
  recipients: readonly string[] | undefined,
): { passphrase: string } | { recipients: readonly string[] } | undefined {
  if (passphrase && recipients && recipients.length > 0) {
    throw new UsageError(
      'saving a snapshot',
      'a passphrase and age recipients were both given',
      'choose one: --encrypt-to/--recipients-file, or --passphrase-file/VAULTCTL_SNAPSHOT_PASSPHRASE (unset it for an age save)',
    );
  }
  if (passphrase) return { passphrase };
  if (recipients && recipients.length > 0) return { recipients };
  return undefined;
}

/** The sidecar's `encrypted` field for a save. */
export function encryptionMeta(
  enc: { passphrase: string } | { recipients: readonly string[] } | undefined,
): SnapshotEncryption | null {
  if (!enc) return null;
  if ('recipients' in enc) return { format: 'age', recipients: [...enc.recipients] };
  return { format: 'openssl', cipher: 'aes-256-cbc', kdf: 'pbkdf2-hmac-sha256', iterations: PBKDF2_ITER };
}

export function deriveKey(passphrase: string, salt: Buffer): { key: Buffer; iv: Buffer } {
  const out = pbkdf2Sync(passphrase, salt, PBKDF2_ITER, 48, 'sha256');
  return { key: out.subarray(0, 32), iv: out.subarray(32, 48) };
}
