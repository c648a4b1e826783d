/**
 * Per operation kind, what a request-level report needs beyond the latency histogram: status
 * codes, distinct errors, when the first and last requests were sent and when the last answer
 * came, and the latency of failed requests (the `--format vault-benchmark` report counts them, as
 * vegeta does).
 */
import { VaultForbiddenError, VaultRequestRejectedError } from '../client/errors.js';
import { Histogram } from './histogram.js';

/** Distinct error messages kept per operation kind. */
const MAX_ERRORS = 20;

export class OpStats {
  readonly statusCodes: Record<string, number> = {};
  readonly errors: string[] = [];
  readonly failed = new Histogram();
  successes = 0;
  /** Epoch milliseconds (fractional): first request sent, last request sent, last answer. */
  earliest = Number.POSITIVE_INFINITY;
  latest = 0;
  end = 0;

  private count(status: number, startedAt: number, endedAt: number): void {
    const key = String(status);
    this.statusCodes[key] = (this.statusCodes[key] ?? 0) + 1;
    if (startedAt < this.earliest) this.earliest = startedAt;
    if (startedAt > this.latest) this.latest = startedAt;
    if (endedAt > this.end) this.end = endedAt;
  }

  /** A request that succeeded with `status` (epoch milliseconds). */
  ok(startedAt: number, endedAt: number, status = 200): void {
    this.successes += 1;
    this.count(status, startedAt, endedAt);
  }

  /** A failed request: its status (0 when no node answered) and message. */
  fail(startedAt: number, endedAt: number, err: unknown): void {
    this.count(statusOf(err), startedAt, endedAt);
    this.failed.record((endedAt - startedAt) * 1000);
    const message = err instanceof Error ? err.message : String(err);
    if (this.errors.length < MAX_ERRORS && !this.errors.includes(message)) this.errors.push(message);
  }
}

/**
 * The HTTP status behind a VaultClient error: a rejected request carries it, a forbidden one is
 * 403, one that gave up after retries names the last status in its message ("HTTP 503: ..."),
 * and a request no node answered is 0 (as vegeta records a transport error).
 */
export function statusOf(err: unknown): number {
  if (err instanceof VaultRequestRejectedError) return err.status;
  if (err instanceof VaultForbiddenError) return 403;
  const m = err instanceof Error ? /^HTTP (\d{3})\b/.exec(err.message) : null;
  return m ? Number(m[1]) : 0;
}
