/**
 * `runLoad`: the seed's load profile against a cluster through VaultClient.
 *
 * Closed loop (default): `users` loops, each thinking a random time in [thinkMin, thinkMax], then
 * reading (probability readRatio) or writing a tenant credential. With no think time this finds
 * the maximum throughput. Open loop (`rate`): operations start on a fixed schedule whatever the
 * answers do, and latency is measured from the scheduled start, so slow answers cannot hide
 * queueing (coordinated omission is corrected). With `listRatio`, that fraction of the operations
 * lists a tenant's exchanges instead (the seed's "List Secrets": p50 < 50 ms, p99 < 100 ms).
 */
import type { VaultClient } from '../client/index.js';
import { Histogram } from './histogram.js';
import { OpStats } from './op-stats.js';
import type { Timeline } from './timeline.js';

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
  /** Fraction of operations that list a prefix (default 0); the rest split by readRatio. */
  readonly listRatio?: number | undefined;
  /** What a list operation lists (default: each path's first three segments, `tenants/{id}/exchanges`). */
  readonly listPrefixes?: readonly string[] | undefined;
  readonly signal?: AbortSignal | undefined;
  /** Filled per second of the measured run; `runLoad` starts and stops it. */
  readonly timeline?: Timeline | undefined;
  /** Called once the measured run's second 0 is known (performance.now() time). */
  readonly onStart?: (measureFrom: number) => void;
  readonly onProgress?: (s: { elapsedMs: number; ops: number; errors: number }) => void;
}

export interface LoadResult {
  /** Every read. */
  readonly read: Histogram;
  /** Reads answered from VaultClient's cache. */
  readonly readCached: Histogram;
  /** Reads answered from the shared (Redis) tier: part of readCached. */
  readonly readShared: Histogram;
  /** Reads that went to a node. */
  readonly readVault: Histogram;
  readonly write: Histogram;
  /** List operations (empty unless listRatio > 0). */
  readonly list: Histogram;
  readonly errors: number;
  readonly errorSamples: readonly string[];
  readonly elapsedMs: number;
  readonly mode: 'closed' | 'open';
  /** Open loop: operations that could not start because too many were in flight. */
  readonly dropped: number;
  /** Status codes, errors and timing per operation kind (reads: those that reached a node). */
  readonly ops?: { readonly read: OpStats; readonly write: OpStats; readonly list: OpStats };
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
export type LoadClient = Pick<VaultClient, 'readSecretWithMeta' | 'writeSecret' | 'listSecrets'>;

export async function runLoad(client: LoadClient, opts: LoadOptions): Promise<LoadResult> {
  const read = new Histogram();
  const readCached = new Histogram();
  const readShared = new Histogram();
  const readVault = new Histogram();
  const write = new Histogram();
  const list = new Histogram();
  const listRatio = opts.listRatio ?? 0;
  const prefixes = opts.listPrefixes ?? [
    ...new Set(opts.paths.map((p) => p.split('/').slice(0, 3).join('/'))),
  ];
  const byOp = { read: new OpStats(), write: new OpStats(), list: new OpStats() };
  const epoch = (t: number) => performance.timeOrigin + t;
  let errors = 0;
  let dropped = 0;
  const errorSamples: string[] = [];
  let ops = 0;
  const start = performance.now();
  const measureFrom = start + opts.warmupMs;
  const end = measureFrom + opts.durationMs;
  const timeline = opts.timeline;
  timeline?.begin(measureFrom);
  opts.onStart?.(measureFrom);
  const pick = () => opts.paths[Math.floor(Math.random() * opts.paths.length)]!;
  let seq = 0;

  const one = async (scheduledAt: number): Promise<void> => {
    const isList = listRatio > 0 && Math.random() < listRatio;
    const isRead = !isList && Math.random() < opts.readRatio;
    const path = pick();
    const kind = isList ? 'list' : isRead ? 'read' : 'write';
    try {
      let cached = false;
      let shared = false;
      if (isList) await client.listSecrets(prefixes[Math.floor(Math.random() * prefixes.length)]!);
      else if (isRead) {
        const r = await client.readSecretWithMeta(path);
        cached = r?.fromCache ?? false;
        shared = r?.tier === 'shared';
      } else
        await client.writeSecret(path, {
          api_key: `bench-${seq++}`,
          secret: 'bench-secret',
          passphrase: 'bench',
        });
      const done = performance.now();
      if (scheduledAt >= measureFrom && scheduledAt < end) {
        const us = (done - scheduledAt) * 1000;
        if (isList) list.record(us);
        else if (isRead) {
          read.record(us);
          (cached ? readCached : readVault).record(us);
          if (shared) readShared.record(us);
        } else {
          write.record(us);
        }
        timeline?.record(cached ? 'cached' : kind, scheduledAt, us);
        if (!cached) byOp[kind].ok(epoch(scheduledAt), epoch(done));
        ops += 1;
      }
    } catch (err) {
      if (scheduledAt >= measureFrom && scheduledAt < end) {
        errors += 1;
        if (errorSamples.length < 5) errorSamples.push((err as Error).message);
        timeline?.error(scheduledAt);
        byOp[kind].fail(epoch(scheduledAt), epoch(performance.now()), err);
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
    timeline?.end();
    close();
  }
  return {
    read,
    readCached,
    readShared,
    readVault,
    write,
    list,
    errors,
    errorSamples,
    elapsedMs: Math.min(performance.now(), end) - measureFrom,
    mode: opts.rate ? 'open' : 'closed',
    dropped,
    ops: byOp,
  };
}
