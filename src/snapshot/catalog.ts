/** The snapshots in a directory: listed newest first, pruned to the newest N. */
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../errors.js';
import { readMeta, type SnapshotMeta, sidecarPath } from './meta.js';

export interface ListedSnapshot {
  readonly file: string;
  readonly meta?: SnapshotMeta;
  readonly size: number;
  readonly createdAt: string;
}

export function listSnapshots(dir: string): ListedSnapshot[] {
  if (!existsSync(dir))
    throw new UsageError(
      'listing snapshots',
      `the directory ${dir} does not exist`,
      'give --dir the directory the snapshots were saved to',
    );
  return readdirSync(dir)
    .filter((f) => /\.snap(\.enc|\.age|\.gpg)?$/.test(f) && !f.startsWith('.'))
    .map((f) => {
      const file = join(dir, f);
      let meta: SnapshotMeta | undefined;
      try {
        meta = readMeta(file);
      } catch {
        meta = undefined;
      }
      const st = statSync(file);
      return {
        file,
        size: st.size,
        createdAt: meta?.createdAt ?? st.mtime.toISOString(),
        ...(meta ? { meta } : {}),
      };
    })
    .sort((a, b) => b.createdAt.localeCompare(a.createdAt));
}

/** Keeps the newest `keep`; of the rest removes all, or with maxAgeMs only those older than it. */
export function pruneSnapshots(dir: string, keep: number, maxAgeMs?: number, now = Date.now()): string[] {
  const removed: string[] = [];
  for (const [i, s] of listSnapshots(dir).entries()) {
    if (i < keep) continue;
    if (maxAgeMs !== undefined && now - Date.parse(s.createdAt) < maxAgeMs) continue;
    rmSync(s.file, { force: true });
    rmSync(sidecarPath(s.file), { force: true });
    removed.push(s.file);
  }
  return removed;
}
