/**
 * The seal migration's journal in the state dir (`seal-migration.json`, 0600): the old and the new
 * seal, the snapshot taken first, and every step done. A rerun reads it and continues where the
 * last run stopped; it is removed when the migration is done, and the history (`seal-history.json`)
 * keeps one line per migration, which `snapshot restore` reads to explain a seal mismatch.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../errors.js';
import type { SealType } from '../spec/schema.js';
import type { StateDir } from '../state/state-dir.js';

export interface SealJournal {
  readonly version: 1;
  readonly startedAt: string;
  readonly from: SealType;
  readonly to: SealType;
  /** The spec input's seal sections, old and new (settings only; tokens and credentials are never in a spec). */
  readonly fromSeal: Record<string, unknown>;
  readonly toSeal: Record<string, unknown>;
  /** The snapshot saved before any node was touched. */
  snapshot?: string;
  /** Step ids done, in order: "snapshot", "migrate:<node>", "finalize:<node>", "record". */
  readonly done: string[];
}

export interface SealHistoryEntry {
  readonly from: SealType;
  readonly to: SealType;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly snapshot?: string;
}

export const JOURNAL_FILE = 'seal-migration.json';
export const HISTORY_FILE = 'seal-history.json';
/** init.json as it was before the migration, kept (0600) until the migration is done. */
export const INIT_BACKUP_FILE = 'init.json.pre-seal-migration';

const journalPath = (state: StateDir) => join(state.root, JOURNAL_FILE);

export function readJournal(state: StateDir): SealJournal | undefined {
  const f = journalPath(state);
  if (!existsSync(f)) return undefined;
  try {
    return JSON.parse(readFileSync(f, 'utf8')) as SealJournal;
  } catch (err) {
    throw new UsageError(
      `reading ${f}`,
      `not valid JSON: ${(err as Error).message}`,
      'the journal of an interrupted seal migration is damaged: compare `vaultctl health` with the node configs and fix or remove the file',
    );
  }
}

export function writeJournal(state: StateDir, journal: SealJournal): void {
  state.writeFileAtomic(journalPath(state), `${JSON.stringify(journal, null, 2)}\n`);
}

/** Marks a step done and writes the journal at once: a rerun must not repeat it. */
export function markDone(state: StateDir, journal: SealJournal, step: string): void {
  if (!journal.done.includes(step)) journal.done.push(step);
  writeJournal(state, journal);
}

export function readHistory(state: StateDir): SealHistoryEntry[] {
  const f = join(state.root, HISTORY_FILE);
  if (!existsSync(f)) return [];
  try {
    return JSON.parse(readFileSync(f, 'utf8')) as SealHistoryEntry[];
  } catch {
    return [];
  }
}

/** Copies init.json aside once (never over an earlier backup): the key material survives any failure. */
export function backupInit(state: StateDir): string | undefined {
  if (!existsSync(state.initFile)) return undefined;
  const backup = join(state.root, INIT_BACKUP_FILE);
  if (!existsSync(backup)) state.writeFileAtomic(backup, readFileSync(state.initFile), { exclusive: true });
  return backup;
}

/** The migration is done: history gets its line, the journal and the init.json backup go. */
export function closeJournal(state: StateDir, journal: SealJournal): SealHistoryEntry {
  const entry: SealHistoryEntry = {
    from: journal.from,
    to: journal.to,
    startedAt: journal.startedAt,
    finishedAt: new Date().toISOString(),
    ...(journal.snapshot ? { snapshot: journal.snapshot } : {}),
  };
  state.writeFileAtomic(
    join(state.root, HISTORY_FILE),
    `${JSON.stringify([...readHistory(state), entry], null, 2)}\n`,
  );
  rmSync(journalPath(state), { force: true });
  rmSync(join(state.root, INIT_BACKUP_FILE), { force: true });
  return entry;
}
