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

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * The one duration grammar of vaultctl (flags and spec fields): a sequence of <number><unit>,
 * units ms, s, m, h, d ("500ms", "90s", "2m", "1h30m", "30d"); a bare number means seconds.
 * Milliseconds, or undefined when the text is not a duration.
 */
export function parseDuration(text: string): number | undefined {
  const t = text.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Number(t) * 1000;
  if (!/^(\d+(\.\d+)?(ms|s|m|h|d))+$/.test(t)) return undefined;
  let total = 0;
  for (const m of t.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)) total += Number(m[1]) * UNIT_MS[m[2]!]!;
  return total;
}
