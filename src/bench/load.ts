/**
 * `runLoad`: the seed's load profile against a cluster through VaultClient.
 *
 * Closed loop (default): `users` loops, each thinking a random time in [thinkMin, thinkMax], then
 * reading (probability readRatio) or writing a tenant credential. With no think time this finds
 * the maximum throughput. Open loop (`rate`): operations start on a fixed schedule whatever the
 * answers do, and latency is measured from the scheduled start, so slow answers cannot hide
 * queueing (coordinated omission is corrected).
 */
import type { VaultClient } from '../client/index.js';
import { Histogram } from './histogram.js';

export interface LoadOptions {
  readonly users: number;
  readonly thinkMinMs: number;
  readonly thinkMaxMs: number;
  readonly readRatio: number;
  readonly durationMs: number;
  readonly warmupMs: number;
  /** Fixed arrival rate (operations per second): open loop. */
  readonly rate?: number | undefined;
  readonly paths: readonly string[];
  readonly signal?: AbortSignal | undefined;
  readonly onProgress?: (s: { elapsedMs: number; ops: number; errors: number }) => void;
}

export interface LoadResult {
  /** Every read. */
  readonly read: Histogram;
  /** Reads answered from VaultClient's cache. */
  readonly readCached: Histogram;
  /** Reads that went to a node. */
  readonly readVault: Histogram;
  readonly write: Histogram;
  readonly errors: number;
  readonly errorSamples: readonly string[];
  readonly elapsedMs: number;
  readonly mode: 'closed' | 'open';
  /** Open loop: operations that could not start because too many were in flight. */
  readonly dropped: number;
}

/**
 * Sleeps that all end at once when the run is cancelled. One abort listener for the whole run:
 * a listener per sleep would put one on the signal per waiting user (100 by default, Node warns
 * past 10) and, in the open loop, one per scheduled operation for the whole run.
 */
function sleeper(signal: AbortSignal | undefined) {
  const pending = new Map<ReturnType<typeof setTimeout>, () => void>();
  const wakeAll = () => {
    for (const [timer, wake] of pending) {
      clearTimeout(timer);
      wake();
    }
    pending.clear();
  };
  signal?.addEventListener('abort', wakeAll, { once: true });
  return {
    sleep: (ms: number) =>
      new Promise<void>((resolve) => {
        if (ms <= 0 || signal?.aborted) return resolve();
        const timer = setTimeout(() => {
          pending.delete(timer);
          resolve();
        }, ms);
        pending.set(timer, resolve);
      }),
    close: () => signal?.removeEventListener('abort', wakeAll),
  };
}

/** The calls the load makes: a VaultClient, or a double in tests. */
export type LoadClient = Pick<VaultClient, 'readSecretWithMeta' | 'writeSecret'>;

export async function runLoad(client: LoadClient, opts: LoadOptions): Promise<LoadResult> {
  const read = new Histogram();
  const readCached = new Histogram();
  const readVault = new Histogram();
  const write = new Histogram();
  let errors = 0;
  let dropped = 0;
  const errorSamples: string[] = [];
  let ops = 0;
  const start = performance.now();
  const measureFrom = start + opts.warmupMs;
  const end = measureFrom + opts.durationMs;
  const pick = () => opts.paths[Math.floor(Math.random() * opts.paths.length)]!;
  let seq = 0;

  const one = async (scheduledAt: number): Promise<void> => {
    const isRead = Math.random() < opts.readRatio;
    const path = pick();
    try {
      let cached = false;
      if (isRead) cached = (await client.readSecretWithMeta(path))?.fromCache ?? false;
      else
        await client.writeSecret(path, {
          api_key: `bench-${seq++}`,
          secret: 'bench-secret',
          passphrase: 'bench',
        });
      const done = performance.now();
      if (scheduledAt >= measureFrom && scheduledAt < end) {
        const us = (done - scheduledAt) * 1000;
        if (isRead) {
          read.record(us);
          (cached ? readCached : readVault).record(us);
        } else {
          write.record(us);
        }
        ops += 1;
      }
    } catch (err) {
      if (scheduledAt >= measureFrom && scheduledAt < end) {
        errors += 1;
        if (errorSamples.length < 5) errorSamples.push((err as Error).message);
      }
    }
  };

  const { sleep, close } = sleeper(opts.signal);
  const ticker = opts.onProgress
    ? setInterval(() => opts.onProgress?.({ elapsedMs: performance.now() - start, ops, errors }), 1000)
    : undefined;
  try {
    if (opts.rate && opts.rate > 0) {
      const interval = 1000 / opts.rate;
      const maxInFlight = Math.max(100, opts.users * 10);
      const inFlight = new Set<Promise<void>>();
      for (let i = 0; ; i++) {
        const at = start + i * interval;
        if (at >= end || opts.signal?.aborted) break;
        await sleep(at - performance.now());
        if (inFlight.size >= maxInFlight) {
          if (at >= measureFrom) dropped += 1;
          continue;
        }
        const p = one(at).finally(() => inFlight.delete(p));
        inFlight.add(p);
      }
      await Promise.all(inFlight);
    } else {
      await Promise.all(
        Array.from({ length: opts.users }, async () => {
          while (performance.now() < end && !opts.signal?.aborted) {
            await sleep(opts.thinkMinMs + Math.random() * (opts.thinkMaxMs - opts.thinkMinMs));
            if (performance.now() >= end || opts.signal?.aborted) break;
            await one(performance.now());
          }
        }),
      );
    }
  } finally {
    if (ticker) clearInterval(ticker);
    close();
  }
  return {
    read,
    readCached,
    readVault,
    write,
    errors,
    errorSamples,
    elapsedMs: Math.min(performance.now(), end) - measureFrom,
    mode: opts.rate ? 'open' : 'closed',
    dropped,
  };
}
