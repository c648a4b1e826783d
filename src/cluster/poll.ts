/**
 * The one polling helper every wait goes through: explicit timeout, AbortSignal, injectable clock.
 */
import { CancelledError, UsageError } from '../errors.js';

export interface Clock {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  sleep: (ms, signal) =>
    new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const t = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      const onAbort = () => {
        clearTimeout(t);
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
};

export class PollTimeoutError extends Error {
  readonly lastResult: unknown;
  constructor(what: string, ms: number, last: unknown) {
    super(`timed out after ${(ms / 1000).toFixed(1)} s waiting for ${what}`);
    this.name = 'PollTimeoutError';
    this.lastResult = last;
  }
}

export interface PollOptions {
  /** What we wait for, for messages: "vault-1 to answer". */
  readonly what: string;
  readonly timeoutMs: number;
  readonly intervalMs?: number;
  readonly signal?: AbortSignal | undefined;
  readonly clock?: Clock;
}

/**
 * Calls `check` until it returns something other than undefined. Errors thrown by `check` count as
 * "not yet" and the last one is kept for the timeout message; a UsageError or CancelledError ends
 * the wait at once.
 */
export async function pollUntil<T>(check: () => Promise<T | undefined>, opts: PollOptions): Promise<T> {
  const clock = opts.clock ?? systemClock;
  const interval = opts.intervalMs ?? 250;
  const start = clock.now();
  let last: unknown;
  for (;;) {
    if (opts.signal?.aborted) throw new CancelledError(`waiting for ${opts.what}`);
    try {
      const r = await check();
      if (r !== undefined) return r;
      last = undefined;
    } catch (err) {
      // A usage error (missing keys, refused action) or a failure marked fatal (an untrusted TLS
      // certificate) will not go away by waiting.
      if (err instanceof CancelledError || err instanceof UsageError || (err as { fatal?: boolean }).fatal)
        throw err;
      last = err;
    }
    const elapsed = clock.now() - start;
    if (elapsed >= opts.timeoutMs) {
      const e = new PollTimeoutError(opts.what, elapsed, last);
      if (last instanceof Error) e.message += ` (last error: ${last.message})`;
      throw e;
    }
    try {
      await clock.sleep(Math.min(interval, opts.timeoutMs - elapsed), opts.signal);
    } catch {
      throw new CancelledError(`waiting for ${opts.what}`);
    }
  }
}

/** Parses "500ms", "10s", "5m", "2h" (and a bare number of seconds) into milliseconds. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  const factor = unit === 'ms' ? 1 : unit === 's' ? 1000 : unit === 'm' ? 60_000 : 3_600_000;
  return n * factor;
}
