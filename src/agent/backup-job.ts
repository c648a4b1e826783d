/**
 * The backup job: one run = save a snapshot (encrypted as the spec says) into the agent's staging
 * dir, then per destination: clean up what an interrupted run left, upload, verify, write the
 * sidecar, and only then apply retention. A destination that fails does not stop the others (a
 * directory still gets its copy while S3 is down); the run fails when any destination failed, and
 * each failure is counted in the status. The staging file is removed whatever happens.
 */
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { errorMessage, RemoteError } from '../errors.js';
import type { SnapshotMeta } from '../snapshot/meta.js';
import { type Destination, type Retention, retentionPlan } from './destination.js';
import type { Logger } from './log.js';
import type { WallClock } from './runner.js';
import type { StatusStore } from './status.js';

/**
 * The seam for the operation lock (src/lock/, written elsewhere): takes the cluster's lock for an
 * operation and returns its release. The agent's backups take it as 'backup', so that a restore,
 * an upgrade or a seal migration never runs at the same time. Absent: no lock is taken.
 */
export type AcquireLock = (operation: string, signal: AbortSignal) => Promise<() => void | Promise<void>>;

/** Saves one snapshot into `dir` and returns the file and its metadata (what `snapshot save` does). */
export type SaveInto = (dir: string, signal: AbortSignal) => Promise<{ file: string; meta: SnapshotMeta }>;

export interface BackupTarget {
  readonly destination: Destination;
  readonly retention: Retention;
}

export interface BackupJobDeps {
  readonly stagingDir: string;
  readonly save: SaveInto;
  readonly targets: readonly BackupTarget[];
  readonly store: StatusStore;
  readonly log: Logger;
  readonly clock: WallClock;
  readonly lock?: AcquireLock | undefined;
}

export const BACKUP_JOB = 'backup';

export async function runBackup(deps: BackupJobDeps, signal: AbortSignal): Promise<void> {
  const { store, log, clock } = deps;
  const release = deps.lock ? await deps.lock('backup', signal) : undefined;
  mkdirSync(deps.stagingDir, { recursive: true, mode: 0o700 });
  // A run killed before it cleaned up left its staging file: it is no snapshot of any destination.
  for (const f of readdirSync(deps.stagingDir)) rmSync(join(deps.stagingDir, f), { force: true });
  let staged: { file: string; meta: SnapshotMeta } | undefined;
  try {
    staged = await deps.save(deps.stagingDir, signal);
    const { file, meta } = staged;
    log.info('snapshot saved', { file: meta.file, bytes: meta.size, raftIndex: meta.raftIndex });
    const failed: string[] = [];
    for (const { destination: d, retention } of deps.targets) {
      const st = store.destination(d.id);
      st.lastAttemptAt = new Date(clock.now()).toISOString();
      try {
        const leftovers = await d.cleanup(signal);
        for (const l of leftovers)
          log.warn('removed what an interrupted upload left', { destination: d.id, what: l });
        const stored = await d.put(file, meta, signal);
        st.lastSuccessAt = stored.meta.verified.at;
        st.lastSnapshot = stored.url;
        st.lastSize = meta.size;
        st.lastBytes = meta.size;
        st.lastCreatedAt = meta.createdAt;
        st.consecutiveFailures = 0;
        delete st.lastError;
        log.info('snapshot stored and verified', { destination: d.id, url: stored.url, sha256: meta.sha256 });
        const prune = retentionPlan(await d.list(signal), retention, clock.now());
        for (const p of prune) {
          await d.remove(p.key, signal);
          log.info('retention removed a snapshot', {
            destination: d.id,
            url: p.url,
            createdAt: p.meta.createdAt,
          });
        }
        st.pruned = prune.length;
      } catch (err) {
        if (signal.aborted) throw err;
        st.consecutiveFailures += 1;
        st.totalFailures += 1;
        st.lastError = errorMessage(err);
        failed.push(`${d.id}: ${st.lastError}`);
        log.error('destination failed', { destination: d.id, error: st.lastError });
      } finally {
        store.save();
      }
    }
    if (failed.length > 0)
      throw new RemoteError(
        'backing up',
        `${failed.length} of ${deps.targets.length} destination${deps.targets.length === 1 ? '' : 's'} failed: ${failed.join('; ')}`,
        'the next run tries again; vaultctl snapshot status shows each destination',
      );
  } catch (err) {
    if (!signal.aborted && !staged) {
      // The save itself failed: every destination missed this run.
      for (const { destination: d } of deps.targets) {
        const st = store.destination(d.id);
        st.consecutiveFailures += 1;
        st.totalFailures += 1;
        st.lastError = `the snapshot could not be saved: ${errorMessage(err)}`;
      }
      store.save();
    }
    throw err;
  } finally {
    if (staged) {
      rmSync(staged.file, { force: true });
      rmSync(`${staged.file}.json`, { force: true });
    }
    await release?.();
  }
}
