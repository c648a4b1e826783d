/**
 * Bounds many short calls with one timer. A timer, an AbortController and a race per Redis call
 * cost more than a shared-tier hit's own work (bench/shared-cache-hit.mjs), and each of them is
 * garbage the collector has to find; one sweep every `tickMs` that runs only while calls are
 * waiting costs nothing per call. A call times out between `timeoutMs` and `timeoutMs + tickMs`.
 */

interface Waiting {
  readonly at: number;
  readonly reject: (err: Error) => void;
}

export class Deadlines {
  private readonly waiting = new Set<Waiting>();
  private timer: NodeJS.Timeout | undefined;
  readonly tickMs: number;

  constructor(
    private readonly timeoutMs: number,
    private readonly timeoutError: () => Error,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tickMs = Math.max(1, Math.min(25, Math.round(timeoutMs / 10)));
  }

  /** `work`'s outcome, or `timeoutError()` once its deadline passed. */
  bound<T>(work: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const w: Waiting = { at: this.now() + this.timeoutMs, reject };
      this.waiting.add(w);
      if (!this.timer) {
        this.timer = setInterval(() => this.sweep(), this.tickMs);
        this.timer.unref();
      }
      work.then(
        (v) => {
          this.waiting.delete(w);
          resolve(v);
        },
        (err: unknown) => {
          this.waiting.delete(w);
          reject(err);
        },
      );
    });
  }

  private sweep(): void {
    if (this.waiting.size === 0) {
      this.stop();
      return;
    }
    const now = this.now();
    for (const w of this.waiting) {
      if (now < w.at) continue;
      this.waiting.delete(w);
      // The rejection waits for the next check phase: when this process's event loop was busy
      // (TLS handshakes, GC) past the deadline, a reply already in the socket is read first and
      // wins, so a busy client does not take a quick Redis for a slow one.
      setImmediate(() => w.reject(this.timeoutError()));
    }
  }

  /** Stops the sweep (calls still waiting then settle only by their own outcome). */
  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
