/**
 * The agent's status, persisted in the state dir (`agent/status.json`, 0600): per job (last run,
 * next run, consecutive failures, last error) and per backup destination (last verified snapshot,
 * its size, consecutive failures, last error). Written after every change, read by `snapshot
 * status` and `health`, and by the agent itself when it starts again (a restart loses nothing).
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../state/atomic.js';

export interface JobStatus {
  /** The scheduled time of the last run that started (the slot it was for). */
  lastSlot?: number;
  lastRunAt?: string;
  lastSuccessAt?: string;
  lastDurationMs?: number;
  nextRunAt?: string;
  consecutiveFailures: number;
  totalFailures: number;
  totalRuns: number;
  lastError?: string;
  running?: boolean;
}

export interface DestinationStatus {
  lastAttemptAt?: string;
  lastSuccessAt?: string;
  /** The newest verified snapshot: its address, bytes and creation time. */
  lastSnapshot?: string;
  lastSize?: number;
  lastCreatedAt?: string;
  consecutiveFailures: number;
  totalFailures: number;
  lastError?: string;
  lastBytes?: number;
  pruned?: number;
}

export interface AgentStatus {
  /** The agent's first start: the anchor of `@every` schedules. */
  anchor: number;
  pid?: number;
  startedAt?: string;
  updatedAt?: string;
  jobs: Record<string, JobStatus>;
  destinations: Record<string, DestinationStatus>;
}

export const AGENT_DIR = 'agent';
export const STATUS_FILE = 'status.json';

export function statusPath(stateRoot: string): string {
  return join(stateRoot, AGENT_DIR, STATUS_FILE);
}

export function readStatus(stateRoot: string): AgentStatus | undefined {
  const p = statusPath(stateRoot);
  if (!existsSync(p)) return undefined;
  try {
    return JSON.parse(readFileSync(p, 'utf8')) as AgentStatus;
  } catch {
    return undefined;
  }
}

/** The status store: one object in memory, written through on every `save`. */
export class StatusStore {
  readonly status: AgentStatus;
  readonly path: string;

  constructor(
    stateRoot: string,
    now: number,
    private readonly write: (path: string, text: string) => void = writeFileAtomic,
  ) {
    mkdirSync(join(stateRoot, AGENT_DIR), { recursive: true, mode: 0o700 });
    this.path = statusPath(stateRoot);
    this.status = readStatus(stateRoot) ?? { anchor: now, jobs: {}, destinations: {} };
  }

  job(name: string): JobStatus {
    this.status.jobs[name] ??= { consecutiveFailures: 0, totalFailures: 0, totalRuns: 0 };
    return this.status.jobs[name]!;
  }

  destination(id: string): DestinationStatus {
    this.status.destinations[id] ??= { consecutiveFailures: 0, totalFailures: 0 };
    return this.status.destinations[id]!;
  }

  save(): void {
    this.status.updatedAt = new Date().toISOString();
    this.write(this.path, `${JSON.stringify(this.status, null, 2)}\n`);
  }
}
