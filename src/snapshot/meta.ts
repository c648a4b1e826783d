/**
 * A snapshot's metadata: the sidecar `<file>.json` beside every snapshot file, with the SHA-256 of
 * the file and of the plain snapshot, where it comes from, and how it is encrypted.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { errorMessage, UsageError } from '../errors.js';
import type { Flavor, SealType } from '../spec/schema.js';
import type { StateDir } from '../state/state-dir.js';

export const SNAPSHOT_FORMAT = 'vaultctl-snapshot/1';

/** How a snapshot file is encrypted, as its sidecar records it. */
export type SnapshotEncryption =
  | {
      /** Absent in sidecars written before age support: those are OpenSSL's format too. */
      readonly format?: 'openssl';
      readonly cipher: 'aes-256-cbc';
      readonly kdf: 'pbkdf2-hmac-sha256';
      readonly iterations: number;
    }
  | {
      readonly format: 'age';
      /** The age X25519 recipients (public keys) the file is encrypted to. */
      readonly recipients: readonly string[];
    }
  | {
      readonly format: 'gpg';
      /** Fingerprints of the GPG public keys the file is encrypted to. */
      readonly recipients: readonly string[];
    };

/** What can decrypt a snapshot: a passphrase (OpenSSL format) and/or age identities (age format). */
export interface SnapshotKeys {
  readonly passphrase?: string | undefined;
  /** age identities, `AGE-SECRET-KEY-1...`. */
  readonly identities?: readonly string[] | undefined;
  /** A file holding a GPG private key (gpg format), and optionally a file with its passphrase. */
  readonly gpgKeyFile?: string | undefined;
  readonly gpgPassphraseFile?: string | undefined;
}

export interface SnapshotMeta {
  readonly format: typeof SNAPSHOT_FORMAT;
  readonly file: string;
  readonly cluster: string;
  readonly clusterId: string;
  readonly flavor: Flavor;
  readonly version: string;
  readonly sealType: SealType | string;
  /** SHA-256 prefix of the static seal key the data is sealed with (not the key). */
  readonly sealKeyId?: string;
  readonly raftIndex?: number;
  readonly raftTerm?: number;
  /**
   * Saved with `--allow-stale` from a standby while no node was active: the data may miss writes
   * the cluster acknowledged. raftIndex and raftTerm are then that standby's.
   */
  readonly stale?: { readonly node: string; readonly reason: string };
  readonly createdAt: string;
  /** Bytes and SHA-256 of the file as stored (encrypted when encrypted). */
  readonly size: number;
  readonly sha256: string;
  /** Bytes and SHA-256 of the plain snapshot. */
  readonly plainSize: number;
  readonly plainSha256: string;
  readonly encrypted: null | SnapshotEncryption;
}

/** The encryption format of a snapshot, from its metadata ('openssl' for old sidecars too). */
export function encryptionFormat(meta: Pick<SnapshotMeta, 'encrypted'>): 'openssl' | 'age' | 'gpg' | null {
  if (!meta.encrypted) return null;
  if (meta.encrypted.format === 'gpg') return 'gpg';
  return meta.encrypted.format === 'age' ? 'age' : 'openssl';
}

/** Whether `keys` hold what this snapshot's format needs to decrypt (not whether it is the right one). */
export function hasKeyFor(meta: Pick<SnapshotMeta, 'encrypted'>, keys: SnapshotKeys): boolean {
  const format = encryptionFormat(meta);
  if (format === 'openssl') return Boolean(keys.passphrase);
  if (format === 'age') return (keys.identities?.length ?? 0) > 0;
  if (format === 'gpg') return Boolean(keys.gpgKeyFile);
  return true;
}

export function missingKey(doing: string, meta: Pick<SnapshotMeta, 'encrypted'>): UsageError {
  if (encryptionFormat(meta) === 'gpg')
    return new UsageError(
      doing,
      'the snapshot is encrypted to GPG keys and no private key was given',
      'pass --gpg-key FILE (`gpg --export-secret-keys --armor KEYID` writes it) or set VAULTCTL_SNAPSHOT_GPG_KEY to its path',
    );
  return encryptionFormat(meta) === 'age'
    ? new UsageError(
        doing,
        'the snapshot is encrypted to age recipients and no identity was given',
        'pass --identity FILE (an age-keygen key file) or set VAULTCTL_SNAPSHOT_IDENTITY to its path',
      )
    : new UsageError(
        doing,
        'the snapshot is encrypted and no passphrase was given',
        'pass --passphrase-file FILE or set VAULTCTL_SNAPSHOT_PASSPHRASE',
      );
}

export function sidecarPath(file: string): string {
  return `${file}.json`;
}

export function sealKeyId(state: StateDir): string | undefined {
  if (!existsSync(state.sealKeyFile)) return undefined;
  return createHash('sha256').update(readFileSync(state.sealKeyFile)).digest('hex').slice(0, 16);
}

const DAMAGED_SIDECAR = 'the .json sidecar is damaged: use an intact copy of the snapshot and its sidecar';
const OTHER_WRITER = 'the sidecar was not written by this vaultctl: use the version that saved the snapshot';

export function readMeta(file: string): SnapshotMeta {
  const doing = `verifying ${file}`;
  if (!existsSync(file))
    throw new UsageError(
      doing,
      'no such file',
      'check the path; vaultctl snapshot list --dir DIR lists the snapshots in a directory',
    );
  const side = sidecarPath(file);
  if (!existsSync(side))
    throw new UsageError(
      doing,
      `its metadata ${side} is missing`,
      'a snapshot saved by vaultctl has a .json sidecar with its checksum',
    );
  let meta: SnapshotMeta;
  try {
    meta = JSON.parse(readFileSync(side, 'utf8')) as SnapshotMeta;
  } catch (err) {
    throw new UsageError(doing, `its metadata is not valid JSON: ${errorMessage(err)}`, DAMAGED_SIDECAR);
  }
  if (meta.format !== SNAPSHOT_FORMAT)
    throw new UsageError(doing, `unknown metadata format "${meta.format}"`, OTHER_WRITER);
  const enc = meta.encrypted as { format?: unknown; recipients?: unknown } | null;
  if (
    enc &&
    enc.format !== undefined &&
    enc.format !== 'openssl' &&
    enc.format !== 'age' &&
    enc.format !== 'gpg'
  )
    throw new UsageError(
      doing,
      `unknown encryption format "${String(enc.format)}" in its metadata`,
      OTHER_WRITER,
    );
  if ((enc?.format === 'age' || enc?.format === 'gpg') && !Array.isArray(enc.recipients))
    throw new UsageError(doing, `its metadata says ${enc.format} but lists no recipients`, DAMAGED_SIDECAR);
  return meta;
}
