/**
 * The agent's loop: a list of small jobs (name + schedule + run(signal)), level-triggered. Each
 * pass asks, per job, "is a slot due that has not run?" from the persisted status, not from
 * remembered events: a slot missed while the agent was down runs once when it starts (one run,
 * however many slots were missed), and a restart in the middle of a run loses nothing. Jobs run
 * one at a time. Aborting the signal (SIGTERM/SIGINT) aborts the running job, whose own cleanup
 * removes what it half made, and ends the loop.
 */
import { systemClock } from '../cluster/poll.js';
import { errorMessage } from '../errors.js';
import { nextRun, previousRun, type Schedule } from '../spec/schedule.js';
import type { Logger } from './log.js';
import type { StatusStore } from './status.js';

/** One kind of scheduled work. `run` must be idempotent and honour `signal`. */
export interface Job {
  readonly name: string;
  readonly schedule: Schedule;
  /** Each slot starts up to this much later, at random. */
  readonly jitterMs: number;
  /** A run is aborted after this long. */
  readonly timeoutMs: number;
  run(signal: AbortSignal): Promise<void>;
}

export interface WallClock {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const wallClock: WallClock = { now: () => Date.now(), sleep: systemClock.sleep };

export interface RunnerDeps {
  readonly store: StatusStore;
  readonly log: Logger;
  readonly clock?: WallClock;
  /** [0, 1): the jitter's draw (injectable for tests). */
  readonly random?: () => number;
  /** Called after each run (metrics). */
  readonly onRun?: (job: string, ok: boolean, durationMs: number) => void;
}

/** The slot a job is due for now, if any: the latest scheduled time not yet run. */
export function dueSlot(
  schedule: Schedule,
  lastSlot: number | undefined,
  now: number,
  anchor: number,
): number | undefined {
  const prev = previousRun(schedule, now, anchor);
  if (lastSlot === undefined) return prev ?? now;
  if (prev !== undefined && prev > lastSlot) return prev;
  return undefined;
}

export class JobRunner {
  private readonly clock: WallClock;
  private readonly random: () => number;
  /** The jitter drawn for each job's next slot, so that a pass does not redraw it. */
  private readonly jitter = new Map<string, { slot: number; ms: number }>();

  constructor(
    readonly jobs: readonly Job[],
    private readonly deps: RunnerDeps,
  ) {
    this.clock = deps.clock ?? wallClock;
    this.random = deps.random ?? Math.random;
  }

  private jitterFor(job: Job, slot: number): number {
    const j = this.jitter.get(job.name);
    if (j && j.slot === slot) return j.ms;
    const ms = Math.floor(this.random() * job.jitterMs);
    this.jitter.set(job.name, { slot, ms });
    return ms;
  }

  /** When each job runs next (slot + its jitter), for the status. */
  private plan(now: number): { job: Job; slot: number; at: number }[] {
    const { store } = this.deps;
    return this.jobs.map((job) => {
      const st = store.job(job.name);
      const due = dueSlot(job.schedule, st.lastSlot, now, store.status.anchor);
      // A missed slot runs at once (no jitter: it is already late); a future one after its jitter.
      if (due !== undefined) return { job, slot: due, at: now };
      const slot = nextRun(job.schedule, now, store.status.anchor);
      return { job, slot, at: slot + this.jitterFor(job, slot) };
    });
  }

  /** Runs until `signal` aborts. Resolves when the loop has stopped and the last job cleaned up. */
  async run(signal: AbortSignal): Promise<void> {
    const { store, log } = this.deps;
    store.status.pid = process.pid;
    store.status.startedAt = new Date(this.clock.now()).toISOString();
    for (const job of this.jobs) store.job(job.name).running = false;
    store.save();
    while (!signal.aborted) {
      const now = this.clock.now();
      const plan = this.plan(now);
      for (const p of plan) store.job(p.job.name).nextRunAt = new Date(p.at).toISOString();
      store.save();
      const first = plan.reduce((a, b) => (b.at < a.at ? b : a));
      if (first.at > now) {
        log.debug('waiting', { job: first.job.name, until: new Date(first.at).toISOString() });
        try {
          // Wake at least every minute: a wall clock that jumps is noticed within one.
          await this.clock.sleep(Math.min(first.at - now, 60_000), signal);
        } catch {
          break;
        }
        continue;
      }
      await this.runOne(first.job, first.slot, signal);
    }
    log.info('agent stopped');
  }

  /** One run of a job for a slot, with its timeout, recorded in the status. */
  async runOne(job: Job, slot: number, signal: AbortSignal): Promise<boolean> {
    const { store, log } = this.deps;
    const st = store.job(job.name);
    const started = this.clock.now();
    st.lastSlot = slot;
    st.lastRunAt = new Date(started).toISOString();
    st.running = true;
    st.totalRuns += 1;
    store.save();
    log.info('job started', { job: job.name, slot: new Date(slot).toISOString() });
    const timeout = AbortSignal.timeout(job.timeoutMs);
    const jobSignal = AbortSignal.any([signal, timeout]);
    let ok = false;
    try {
      await job.run(jobSignal);
      ok = true;
      st.consecutiveFailures = 0;
      st.lastSuccessAt = new Date(this.clock.now()).toISOString();
      delete st.lastError;
    } catch (err) {
      const why = signal.aborted
        ? 'aborted: the agent was stopped during the run (nothing half-made was kept)'
        : timeout.aborted
          ? `aborted after the timeout of ${job.timeoutMs / 1000} s`
          : errorMessage(err);
      st.consecutiveFailures += 1;
      st.totalFailures += 1;
      st.lastError = why;
      // A run cut short by a stop is not the slot's run: the next start runs it again.
      if (signal.aborted) delete st.lastSlot;
      log.error('job failed', { job: job.name, error: why });
    } finally {
      st.running = false;
      st.lastDurationMs = this.clock.now() - started;
      store.save();
    }
    this.deps.onRun?.(job.name, ok, st.lastDurationMs ?? 0);
    if (ok) log.info('job done', { job: job.name, durationMs: st.lastDurationMs });
    return ok;
  }
}
