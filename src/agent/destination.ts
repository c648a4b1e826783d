/**
 * Where the agent keeps snapshots: the port every destination implements (a directory, S3), and
 * what all of them share: the sidecar that marks an object as a verified snapshot, and retention.
 *
 * An object is a snapshot only once its sidecar (`<key>.json`) is stored beside it, and the sidecar
 * is written only after the object read back from the destination matched the SHA-256 that was
 * sent. An upload cut off at any point (a network failure, SIGKILL) leaves at most an object
 * without a sidecar, which is never listed, never restored and removed by the next run.
 */
import type { SnapshotMeta } from '../snapshot/meta.js';

/** The sidecar a destination stores beside a snapshot: its metadata and the verification. */
export interface StoredMeta extends SnapshotMeta {
  readonly verified: {
    readonly at: string;
    /** The SHA-256 of the bytes the destination gave back; equal to `sha256`. */
    readonly sha256: string;
    readonly destination: string;
  };
}

export interface StoredSnapshot {
  /** The key (S3) or file name (directory) of the snapshot object. */
  readonly key: string;
  /** The full address: s3://bucket/key or the absolute path. */
  readonly url: string;
  readonly meta: StoredMeta;
}

export interface Destination {
  /** The URL from the spec. */
  readonly id: string;
  /**
   * Stores `file` (whose bytes `meta` describes) under `meta.file`, reads it back, compares its
   * SHA-256 with `meta.sha256`, and only then writes the sidecar. On any failure nothing is left
   * that `list` would show.
   */
  put(file: string, meta: SnapshotMeta, signal: AbortSignal): Promise<StoredSnapshot>;
  /** Verified snapshots (those with a sidecar), newest first. */
  list(signal: AbortSignal): Promise<StoredSnapshot[]>;
  /** Removes a snapshot and its sidecar (the sidecar first: never a listed snapshot without its object). */
  remove(key: string, signal: AbortSignal): Promise<void>;
  /** Downloads a snapshot and its sidecar to `toFile` and `toFile.json`. */
  fetch(key: string, toFile: string, signal: AbortSignal): Promise<StoredMeta>;
  /** Removes what interrupted uploads left (partial files, objects without a sidecar, open multipart uploads). */
  cleanup(signal: AbortSignal): Promise<string[]>;
}

export interface Retention {
  readonly keep?: number | undefined;
  readonly maxAgeMs?: number | undefined;
}

/**
 * Which verified snapshots retention removes (list newest first): beyond the newest `keep`, and
 * older than `maxAgeMs`; with both, only those both beyond `keep` and older. The newest verified
 * snapshot is never removed. With neither rule nothing is removed.
 */
export function retentionPlan(
  list: readonly StoredSnapshot[],
  rule: Retention,
  now: number,
): StoredSnapshot[] {
  if (rule.keep === undefined && rule.maxAgeMs === undefined) return [];
  const sorted = [...list].sort((a, b) => b.meta.createdAt.localeCompare(a.meta.createdAt));
  return sorted.filter((s, i) => {
    if (i === 0) return false;
    const beyondKeep = rule.keep === undefined || i >= rule.keep;
    const old = rule.maxAgeMs === undefined || now - Date.parse(s.meta.createdAt) > rule.maxAgeMs;
    return beyondKeep && old;
  });
}

/** Whether a snapshot file name is one the agent wrote (`<cluster>-<time>.snap[.age|.gpg|.enc]`). */
export function isSnapshotName(name: string): boolean {
  return /\.snap(\.enc|\.age|\.gpg)?$/.test(name) && !name.startsWith('.');
}

/** The newest of a list (by createdAt). */
export function newest(list: readonly StoredSnapshot[]): StoredSnapshot | undefined {
  return [...list].sort((a, b) => b.meta.createdAt.localeCompare(a.meta.createdAt))[0];
}
