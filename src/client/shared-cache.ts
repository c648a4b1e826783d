/**
 * `SharedCache`: VaultClient's second tier, one Redis shared by every instance of the application.
 *
 * - Entries are sealed (envelope.ts): Redis never holds a plaintext value, and an entry that does
 *   not open under its own key name is a miss, counted as `rejected`.
 * - Read-through with single-flight across instances: on a miss one instance takes a short lock
 *   (`SET NX PX`) and reads the cluster; the others poll the entry for a bounded time, then read
 *   the cluster themselves. Concurrent reads of one key in one process share one attempt.
 * - A fill is refused when a write bumped the key's generation after the read began, so a slow
 *   reader cannot put back the value a writer just replaced.
 * - Invalidation: a write puts the sealed new value in Redis (write-through, unless a newer version
 *   is there), bumps the generation and publishes the path, in one script; a delete removes the
 *   entry the same way. Every instance drops its in-memory copy on the message and its next read
 *   finds the new value in Redis. `lagGuardMs` later the writer removes the entry if it is then
 *   older than the version written: a standby can serve the old version for a few milliseconds
 *   after the leader acknowledged the write, and a reader may have cached that.
 * - Redis down or slow never reaches the caller: each call has a timeout, three timeouts in a row
 *   open a short breaker (calls skipped), node-redis reconnects by itself, invalidations that could not be sent
 *   are sent again on reconnect, and a subscriber that was disconnected flushes the in-memory tier
 *   (it may have missed messages).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import type { RedisClientType } from '@redis/client';
import { Deadlines } from './deadlines.js';
import type { CacheEntry } from './envelope.js';
import { cacheKeyBytes, openEntry, sealEntry } from './envelope.js';
import {
  DEFAULT_PREFIX,
  decodeInvalidation,
  encodeInvalidation,
  invalidationChannel,
  type SharedKeyNames,
  sharedKeyNames,
} from './shared-keys.js';

/**
 * `@redis/client` (CommonJS) is loaded when a shared cache is made, not when this module is: every
 * CLI command imports the client library through `bench`, and node-redis costs a tenth of a second
 * or more of each command's start.
 */
type RedisModule = typeof import('@redis/client');
let redisModule: RedisModule | undefined;
const redis = (): RedisModule => {
  redisModule ??= createRequire(import.meta.url)('@redis/client') as RedisModule;
  return redisModule;
};

/** A client from `@redis/client`'s `createClient()` (no modules). */
export type RedisClient = RedisClientType;

export interface SharedCacheOptions {
  /** `redis://host:port` (or `rediss://`); or pass `client`. */
  readonly url?: string;
  /** A client you made: connected here if it is not open, never closed here. */
  readonly client?: RedisClient;
  /** 32 bytes for AES-256-GCM (bytes, base64 or hex), kept by the application, never in Redis. */
  readonly key: Uint8Array | string;
  /** Key and channel prefix (default `vault:secrets:`). */
  readonly prefix?: string;
  /** Entry TTL (default 5 minutes, as the seed says). */
  readonly ttlMs?: number;
  /** Timeout of every Redis call (default 250 ms). */
  readonly timeoutMs?: number;
  /** How long Redis is skipped after three timeouts in a row (default 1 s). */
  readonly breakerMs?: number;
  /** Lease of the single-flight lock (default 3 s). */
  readonly lockMs?: number;
  /** How long a read waits for another instance's fill before it reads the cluster (default 1 s). */
  readonly waitMs?: number;
  /** Poll interval while waiting (default 5 ms). */
  readonly pollMs?: number;
  /** Delay of the writer's second check of the entry (default 1 s; 0: none). */
  readonly lagGuardMs?: number;
}

export interface SharedCacheStats {
  readonly connected: boolean;
  readonly hits: number;
  readonly misses: number;
  /** Entries that did not open (tampered, foreign key, moved): counted as misses too. */
  readonly rejected: number;
  readonly fills: number;
  /** Fills refused because a write happened while the value was read. */
  readonly fillsRefused: number;
  /** Cold reads this instance did for the others (it held the lock). */
  readonly singleFlightLeads: number;
  /** Cold reads that waited for another instance's fill. */
  readonly singleFlightWaits: number;
  /** ... and were answered by it. */
  readonly singleFlightWaitHits: number;
  readonly invalidationsSent: number;
  readonly invalidationsReceived: number;
  /** Failed Redis calls (including calls while disconnected or skipped by the breaker). */
  readonly errors: number;
  readonly timeouts: number;
  /** Times the subscriber came back after a disconnect (the in-memory tier was flushed). */
  readonly resyncs: number;
}

/** What a read-through got: the entry (null: absent) and where it came from. */
export interface SharedRead {
  readonly entry: CacheEntry | null;
  readonly from: 'shared' | 'cluster';
}

const FILL = `local g = redis.call('GET', KEYS[2]) or ''
if g ~= ARGV[3] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`;
// A delete, or the second pass after a write (ARGV[4]: the version written; '' after a delete):
// an entry at that version or newer is left alone.
const INVALIDATE = `if ARGV[4] ~= '' then
  local cur = redis.call('GET', KEYS[1])
  if not cur then return 0 end
  local v = tonumber(string.match(cur, '^v1%.(%d+)%.'))
  if v and v >= tonumber(ARGV[4]) then return 0 end
end
redis.call('DEL', KEYS[1])
redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[1])
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1`;
// A write: the entry becomes the value written unless Redis already holds that version or a newer
// one (a concurrent writer won); the generation is bumped so a read that began before cannot fill
// the old value over it. ARGV[4] version, ARGV[5] sealed entry, ARGV[6] entry TTL.
const WRITE_THROUGH = `local cur = redis.call('GET', KEYS[1])
local v = cur and tonumber(string.match(cur, '^v1%.(%d+)%.'))
redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[1])
if not (v and v >= tonumber(ARGV[4])) then redis.call('SET', KEYS[1], ARGV[5], 'PX', ARGV[6]) end
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1`;
const UNLOCK = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

class Skipped extends Error {}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const reconnectStrategy = (retries: number) =>
  Math.min(50 * 2 ** Math.min(retries, 6), 2000) + Math.random() * 50;

export class SharedCache {
  private readonly redis: RedisClient;
  /** `redis` without node-redis's own per-command timeout: `deadlines` bounds every call. */
  private readonly cmd: RedisClient;
  private readonly deadlines: Deadlines;
  private readonly sub: RedisClient;
  private readonly owned: boolean;
  private readonly key: Buffer;
  private readonly prefix: string;
  private readonly channel: string;
  private readonly id = randomUUID();
  private readonly ttlMs: number;
  private readonly timeoutMs: number;
  private readonly breakerMs: number;
  private readonly lockMs: number;
  private readonly waitMs: number;
  private readonly pollMs: number;
  private readonly lagGuardMs: number;
  private skipUntil = 0;
  private timeoutsInRow = 0;
  /** Settles on the first connection: the first calls wait for it (bounded) rather than skip Redis. */
  private readonly firstReady: Promise<void>;
  /** The one bounded wait for the first connection; later calls never wait for it again. */
  private startup: Promise<void> | undefined;
  private startupDone = false;
  private subWasReady = false;
  private subLost = false;
  private closed = false;
  private flushing = false;
  private readonly inflight = new Map<string, Promise<SharedRead>>();
  /** Invalidations that failed to reach Redis: sent again when it is back. */
  private readonly pending = new Set<string>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly s = {
    hits: 0,
    misses: 0,
    rejected: 0,
    fills: 0,
    fillsRefused: 0,
    singleFlightLeads: 0,
    singleFlightWaits: 0,
    singleFlightWaitHits: 0,
    invalidationsSent: 0,
    invalidationsReceived: 0,
    errors: 0,
    timeouts: 0,
    resyncs: 0,
  };

  /**
   * @param mount the KV mount (part of every key name)
   * @param onInvalidate drops the in-memory copy of a path (another instance wrote it)
   * @param onResync drops every in-memory copy (messages may have been missed)
   */
  constructor(
    opts: SharedCacheOptions,
    private readonly mount: string,
    private readonly onInvalidate: (path: string) => void,
    private readonly onResync: () => void,
  ) {
    this.key = cacheKeyBytes(opts.key);
    this.prefix = opts.prefix ?? DEFAULT_PREFIX;
    this.channel = invalidationChannel(this.prefix);
    this.ttlMs = opts.ttlMs ?? 300_000;
    this.timeoutMs = opts.timeoutMs ?? 250;
    this.breakerMs = opts.breakerMs ?? 1000;
    this.lockMs = opts.lockMs ?? 3000;
    this.waitMs = opts.waitMs ?? 1000;
    this.pollMs = opts.pollMs ?? 5;
    this.lagGuardMs = opts.lagGuardMs ?? 1000;
    const socket = { connectTimeout: Math.max(500, this.timeoutMs * 5), reconnectStrategy };
    this.owned = !opts.client;
    // Commands while disconnected fail at once instead of queueing behind a reconnect.
    this.redis = opts.client ?? redis().createClient({ url: opts.url, socket, disableOfflineQueue: true });
    // node-redis's own command timeout (5 s by default) makes an AbortSignal.timeout, a timer
    // that lives its full 5 s, for every command, and only covers the time before the command is
    // written; our bound covers the whole call. A command that times out is not taken back from
    // node-redis's queue: a late GET is dropped, a late fill or invalidation is guarded in its
    // script like any concurrent one.
    this.cmd = this.redis.withCommandOptions({ timeout: 0 }) as RedisClient;
    this.deadlines = new Deadlines(this.timeoutMs, () => new (redis().TimeoutError)());
    this.redis.on('error', () => {});
    this.redis.on('ready', () => this.flushPending());
    this.firstReady = new Promise<void>((resolve) => {
      if (this.redis.isReady) resolve();
      this.redis.once('ready', () => resolve());
    });
    // The subscriber queues its SUBSCRIBE until connected, and node-redis subscribes again on
    // reconnect. Its socket options (address, TLS, reconnect strategy) are the client's own.
    this.sub = this.redis.duplicate({ disableOfflineQueue: false });
    this.sub.on('error', () => {});
    this.sub.on('end', () => this.subDown());
    this.sub.on('reconnecting', () => this.subDown());
    this.sub.on('ready', () => {
      if (this.subWasReady && this.subLost) {
        this.s.resyncs += 1;
        this.onResync();
      }
      this.subWasReady = true;
      this.subLost = false;
    });
    if (!this.redis.isOpen) this.redis.connect().catch(() => {});
    this.sub.connect().catch(() => {});
    this.sub.subscribe(this.channel, (message) => this.received(message)).catch(() => {});
  }

  private subDown(): void {
    this.subLost = true;
  }

  private received(message: string): void {
    const m = decodeInvalidation(message);
    if (!m || m.mount !== this.mount || m.from === this.id) return;
    this.s.invalidationsReceived += 1;
    this.onInvalidate(m.path);
  }

  stats(): SharedCacheStats {
    return { ...this.s, connected: this.redis.isReady && this.sub.isReady };
  }

  /** One Redis call: bounded, counted, never throws past `call` callers' catch. */
  private async call<T>(fn: (r: RedisClient) => Promise<T>): Promise<T> {
    if (!this.startupDone) await this.waitForStartup();
    if (this.closed || !this.redis.isReady || Date.now() < this.skipUntil) {
      this.s.errors += 1;
      throw new Skipped('redis not in use');
    }
    try {
      const result = await this.deadlines.bound(fn(this.cmd));
      this.timeoutsInRow = 0;
      return result;
    } catch (err) {
      this.s.errors += 1;
      if (err instanceof redis().TimeoutError) {
        this.s.timeouts += 1;
        // One late answer may be this process's own busy event loop; three in a row is Redis.
        if (++this.timeoutsInRow >= 3) {
          this.skipUntil = Date.now() + this.breakerMs;
          this.timeoutsInRow = 0;
        }
      }
      throw err;
    }
  }

  private waitForStartup(): Promise<void> {
    this.startup ??= (async () => {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.firstReady, new Promise((r) => (timer = setTimeout(r, this.timeoutMs)))]);
      clearTimeout(timer);
      this.startupDone = true;
    })();
    return this.startup;
  }

  private open(names: SharedKeyNames, text: string | null): CacheEntry | undefined {
    if (text === null) return undefined;
    const entry = openEntry(this.key, names.entry, text);
    if (!entry) this.s.rejected += 1;
    return entry;
  }

  /**
   * Read-through: the shared entry, else one cluster read for every instance asking at once.
   * `load` reads the cluster (null when the secret is absent); its errors reach the caller, Redis's never.
   */
  read(path: string, load: () => Promise<CacheEntry | null>): Promise<SharedRead> {
    // Invalidations that failed while Redis was away go out as soon as it answers again.
    if (this.pending.size > 0 && this.redis.isReady && Date.now() >= this.skipUntil) this.flushPending();
    const names = sharedKeyNames(this.prefix, this.mount, path);
    let p = this.inflight.get(names.entry);
    if (!p) {
      p = this.readThrough(names, load).finally(() => this.inflight.delete(names.entry));
      this.inflight.set(names.entry, p);
    }
    return p;
  }

  private async readThrough(
    names: SharedKeyNames,
    load: () => Promise<CacheEntry | null>,
  ): Promise<SharedRead> {
    const fromCluster = async (): Promise<SharedRead> => ({ entry: await load(), from: 'cluster' });
    let gen: string;
    try {
      const [text, g] = await this.call((r) => r.mGet([names.entry, names.gen]));
      const entry = this.open(names, text ?? null);
      if (entry) {
        this.s.hits += 1;
        return { entry, from: 'shared' };
      }
      gen = g ?? '';
    } catch {
      return fromCluster();
    }
    this.s.misses += 1;
    const token = randomBytes(12).toString('base64');
    let locked: boolean;
    try {
      locked =
        (await this.call((r) =>
          r.set(names.lock, token, { condition: 'NX', expiration: { type: 'PX', value: this.lockMs } }),
        )) === 'OK';
    } catch {
      return fromCluster();
    }
    if (!locked) {
      const waited = await this.waitForFill(names);
      return waited ? { entry: waited, from: 'shared' } : fromCluster();
    }
    this.s.singleFlightLeads += 1;
    try {
      const entry = await load();
      if (entry) await this.fill(names, entry, gen);
      return { entry, from: 'cluster' };
    } finally {
      await this.call((r) => r.eval(UNLOCK, { keys: [names.lock], arguments: [token] })).catch(() => {});
    }
  }

  private async fill(names: SharedKeyNames, entry: CacheEntry, gen: string): Promise<void> {
    const sealed = sealEntry(this.key, names.entry, entry);
    try {
      const ok = await this.call((r) =>
        r.eval(FILL, { keys: [names.entry, names.gen], arguments: [sealed, String(this.ttlMs), gen] }),
      );
      if (ok === 1) this.s.fills += 1;
      else this.s.fillsRefused += 1;
    } catch {
      // Not cached this time: the next reader fills it.
    }
  }

  /** Polls for the lock holder's fill; undefined when it gave up, failed, or Redis did. */
  private async waitForFill(names: SharedKeyNames): Promise<CacheEntry | undefined> {
    this.s.singleFlightWaits += 1;
    const until = Date.now() + this.waitMs;
    while (Date.now() < until) {
      await sleep(this.pollMs);
      try {
        const [text, lock] = await this.call((r) => r.mGet([names.entry, names.lock]));
        const entry = this.open(names, text ?? null);
        if (entry) {
          this.s.singleFlightWaitHits += 1;
          return entry;
        }
        // The holder is done and filled nothing (absent secret, refused fill, or an error).
        if (lock === null) return undefined;
      } catch {
        return undefined;
      }
    }
    return undefined;
  }

  /**
   * After a write (`written`: the data and version the cluster acknowledged) or a delete of
   * `path`: the entry becomes the written value (or goes), and every instance is told. Never throws.
   */
  async invalidate(path: string, written?: CacheEntry): Promise<void> {
    await this.invalidateNow(path, written);
    if (this.lagGuardMs > 0 && !this.closed) {
      const t = setTimeout(() => {
        this.timers.delete(t);
        void this.invalidateNow(path, undefined, written?.version);
      }, this.lagGuardMs);
      t.unref();
      this.timers.add(t);
    }
  }

  /** `olderThan`: only when the entry is older than that version (the second pass after a write). */
  private async invalidateNow(path: string, written?: CacheEntry, olderThan?: number): Promise<void> {
    const names = sharedKeyNames(this.prefix, this.mount, path);
    const message = encodeInvalidation({ mount: this.mount, path, from: this.id });
    const common = [String(this.ttlMs * 2), this.channel, message];
    try {
      const published = await this.call((r) =>
        written
          ? r.eval(WRITE_THROUGH, {
              keys: [names.entry, names.gen],
              arguments: [
                ...common,
                String(written.version),
                sealEntry(this.key, names.entry, written),
                String(this.ttlMs),
              ],
            })
          : r.eval(INVALIDATE, {
              keys: [names.entry, names.gen],
              arguments: [...common, olderThan === undefined ? '' : String(olderThan)],
            }),
      );
      if (published === 1) this.s.invalidationsSent += 1;
      this.pending.delete(path);
    } catch {
      if (!this.closed) this.pending.add(path);
    }
  }

  private flushPending(): void {
    if (this.flushing || this.pending.size === 0) return;
    this.flushing = true;
    void Promise.all([...this.pending].map((path) => this.invalidateNow(path))).finally(() => {
      this.flushing = false;
    });
  }

  /** Closes the connections this tier opened (not a client that was passed in). */
  async close(): Promise<void> {
    this.closed = true;
    this.deadlines.stop();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    const end = async (c: RedisClient) => {
      try {
        if (c.isOpen) await c.close();
      } catch {
        c.destroy();
      }
    };
    await end(this.sub);
    if (this.owned) await end(this.redis);
  }
}
