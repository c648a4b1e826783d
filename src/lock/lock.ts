/**
 * The operation lock: one per cluster, a file in its state dir (`operation.lock`, 0600), taken by
 * every operation that changes the cluster (down, up, init, snapshot restore, upgrade, seal
 * migrate, tls rotate, failover-drill; the agent's scheduled backups through the same API), so
 * that two of them never run at once: a restore during a drill rolled back the drill's writes and
 * the drill called them lost (issue 26 item 3). Read-only commands do not take it.
 *
 * A lock whose holder died is released safely: on the same host and in the same PID namespace a
 * holder whose pid is gone is dead at once; anywhere else (another container with the state dir
 * mounted, another host on a shared dir) the holder refreshes a heartbeat, and a lock whose
 * heartbeat stopped for `staleMs` is stale. Breaking a stale lock is itself serialised (a
 * `operation.lock.break` file taken exclusively), so two waiters never both take it.
 */
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  mkdirSync,
  openSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmdirSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { throwIfAborted, UsageError } from '../errors.js';

/**
 * Its own directory in the state dir, so that the agent's container (which sees only the pieces of
 * the state dir it needs, never the keys) can bind-mount it and take the same lock as the host.
 */
export const LOCK_DIR = 'lock';
export const LOCK_FILE = `${LOCK_DIR}/operation.lock`;

/** What the lock file says about its holder. */
export interface LockHolder {
  readonly version: 1;
  /** The command or job that holds it: "failover-drill", "snapshot restore", "agent backup". */
  readonly operation: string;
  readonly pid: number;
  readonly host: string;
  /** The holder's PID namespace (`/proc/self/ns/pid`) and boot: only then does its pid mean ours. */
  readonly pidNamespace: string | undefined;
  readonly bootId: string | undefined;
  /** ISO times: when it was taken, and the holder's last heartbeat. */
  readonly since: string;
  readonly heartbeat: string;
  /** Random, so a holder never releases a lock that has since become another's. */
  readonly token: string;
}

export interface LockOptions {
  /** How long to wait for a held lock (ms); 0 (the default) refuses at once. */
  readonly wait?: number;
  /** How often the holder refreshes its heartbeat (ms, default 5000). */
  readonly heartbeatMs?: number;
  /** A heartbeat older than this is a dead holder's (ms, default 30000). */
  readonly staleMs?: number;
  readonly signal?: AbortSignal | undefined;
  /** What the refusal says vaultctl was doing ("Error <doing>: ..."); default "taking the operation lock". */
  readonly doing?: string;
  /** Tests: who we are and what time it is. */
  readonly identity?: Partial<Pick<LockHolder, 'pid' | 'host' | 'pidNamespace' | 'bootId'>>;
  readonly now?: () => number;
  /** Tests: whether a pid lives in our PID namespace (default `process.kill(pid, 0)`). */
  readonly pidAlive?: (pid: number) => boolean;
}

/** A held lock: `release()` once the operation is over (safe to call twice). */
export interface OperationLock {
  readonly holder: LockHolder;
  readonly path: string;
  release(): void;
}

const DEFAULTS = { heartbeatMs: 5000, staleMs: 30_000 };

function readOr(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

function pidNamespace(): string | undefined {
  try {
    return readlinkSync('/proc/self/ns/pid');
  } catch {
    return undefined;
  }
}

function defaultPidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it lives, as another user's process.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readHolder(path: string): LockHolder | undefined | 'unreadable' {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const h = JSON.parse(text) as LockHolder;
    return typeof h.pid === 'number' && typeof h.heartbeat === 'string' ? h : 'unreadable';
  } catch {
    // Being written right now (created, not yet filled), or damaged: judged by its age.
    return 'unreadable';
  }
}

/** Why a holder is dead (undefined: it may be alive). */
export function staleReason(
  h: LockHolder,
  me: Pick<LockHolder, 'host' | 'pidNamespace' | 'bootId'>,
  now: number,
  staleMs: number,
  pidAlive: (pid: number) => boolean,
): string | undefined {
  const sameNamespace =
    h.host === me.host &&
    h.pidNamespace !== undefined &&
    h.pidNamespace === me.pidNamespace &&
    h.bootId === me.bootId;
  if (sameNamespace && !pidAlive(h.pid)) return `its process ${h.pid} on ${h.host} is gone`;
  const age = now - Date.parse(h.heartbeat);
  if (!(age <= staleMs))
    return `no heartbeat for ${Math.round(age / 1000)} s (its process ${h.pid} on ${h.host} stopped refreshing it)`;
  return undefined;
}

function holderText(h: LockHolder, now: number): string {
  const beat = Math.max(0, Math.round((now - Date.parse(h.heartbeat)) / 1000));
  return `\`${h.operation}\` holds the cluster's operation lock (pid ${h.pid} on host ${h.host}, since ${h.since}, last heartbeat ${beat} s ago)`;
}

/**
 * Takes the cluster's operation lock in `stateDir` for `operation`, or refuses (UsageError, exit 1)
 * naming the holder, its pid and host, since when, and how to go on. With `wait`, waits up to that
 * long for the holder to finish first. The holder's heartbeat runs until `release()`.
 */
export async function acquireOperationLock(
  stateDir: string,
  operation: string,
  opts: LockOptions = {},
): Promise<OperationLock> {
  const now = opts.now ?? Date.now;
  const heartbeatMs = opts.heartbeatMs ?? DEFAULTS.heartbeatMs;
  const staleMs = opts.staleMs ?? DEFAULTS.staleMs;
  const pidAlive = opts.pidAlive ?? defaultPidAlive;
  const me = {
    pid: opts.identity?.pid ?? process.pid,
    host: opts.identity?.host ?? hostname(),
    pidNamespace:
      opts.identity && 'pidNamespace' in opts.identity ? opts.identity.pidNamespace : pidNamespace(),
    bootId:
      opts.identity && 'bootId' in opts.identity
        ? opts.identity.bootId
        : readOr('/proc/sys/kernel/random/boot_id'),
  };
  const path = join(stateDir, LOCK_FILE);
  const doing = opts.doing ?? `taking the operation lock for ${operation}`;
  const deadline = now() + (opts.wait ?? 0);
  // A state dir made only to hold the lock goes with it: `down` of a cluster that has none, or
  // `init` that refuses a missing one, must not leave an empty one behind.
  const firstMade = mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const made = firstMade ? madeDirs(firstMade, stateDir) : [];
  // The lock dir stays once the state dir exists (the agent's container may have it mounted); it
  // goes only with a state dir made for the lock alone.
  mkdirSync(join(stateDir, LOCK_DIR), { recursive: true, mode: 0o700 });
  if (firstMade) made.unshift(join(stateDir, LOCK_DIR));

  try {
    for (;;) {
      throwIfAborted(opts.signal, doing);
      const stamp = new Date(now()).toISOString();
      const holder: LockHolder = {
        version: 1,
        operation,
        ...me,
        since: stamp,
        heartbeat: stamp,
        token: randomBytes(12).toString('hex'),
      };
      if (createExclusive(path, holder)) return hold(path, holder, heartbeatMs, now, made);

      const current = readHolder(path);
      if (current === undefined) continue; // released between our attempt and the read
      if (current === 'unreadable') {
        // A file being written is filled within milliseconds; one still empty after staleMs is dead.
        const age = now() - fileMtime(path);
        if (age > staleMs) {
          breakStale(path, undefined, staleMs, now);
          continue;
        }
      } else {
        const why = staleReason(current, me, now(), staleMs, pidAlive);
        if (why) {
          breakStale(path, current.token, staleMs, now);
          continue;
        }
        if (now() >= deadline) throw refusal(doing, current, path, now(), staleMs);
      }
      if (now() >= deadline && current === 'unreadable')
        throw new UsageError(
          doing,
          `the operation lock ${path} is being taken by another operation`,
          'run the command again in a moment',
        );
      await sleep(Math.min(250, Math.max(10, deadline - now())), undefined, {
        ...(opts.signal ? { signal: opts.signal } : {}),
      }).catch(() => undefined);
    }
  } catch (err) {
    removeEmpty(made);
    throw err;
  }
}

function refusal(doing: string, h: LockHolder, path: string, now: number, staleMs: number): UsageError {
  return new UsageError(
    doing,
    `the cluster is busy: ${holderText(h, now)}`,
    `nothing was changed; run this again once \`${h.operation}\` has finished (or stop it: Ctrl-C where it runs, or \`kill ${h.pid}\` on ${h.host}). ` +
      `A lock left by a process that died is released by itself: at once on the same host, after ${Math.round(staleMs / 1000)} s without a heartbeat elsewhere. Do not delete ${path} while it runs`,
  );
}

/** The dirs `mkdirSync` made for the state dir, deepest first. */
function madeDirs(first: string, stateDir: string): string[] {
  const dirs: string[] = [];
  for (let d = resolve(stateDir); ; d = dirname(d)) {
    dirs.push(d);
    if (d === resolve(first) || dirname(d) === d) return dirs;
  }
}

/** Removes the dirs made for the lock while they are empty (the operation may have filled them). */
function removeEmpty(dirs: readonly string[]): void {
  for (const d of dirs) {
    try {
      rmdirSync(d);
    } catch {
      return;
    }
  }
}

function fileMtime(path: string): number {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return Date.now();
  }
}

function createExclusive(path: string, holder: LockHolder): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  try {
    writeSync(fd, `${JSON.stringify(holder)}\n`);
  } finally {
    closeSync(fd);
  }
  return true;
}

/**
 * Removes a stale lock, only if it is still the one judged stale (`token`): a `.break` file taken
 * exclusively makes the check-and-remove one step among waiters. A `.break` left by a process that
 * died there is itself removed after `staleMs`.
 */
function breakStale(path: string, token: string | undefined, staleMs: number, now: () => number): void {
  const breaker = `${path}.break`;
  let fd: number;
  try {
    fd = openSync(breaker, 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    if (now() - fileMtime(breaker) > staleMs) {
      try {
        unlinkSync(breaker);
      } catch {
        // another waiter removed it
      }
    }
    return;
  }
  try {
    closeSync(fd);
    const again = readHolder(path);
    const same =
      token === undefined ? again === 'unreadable' : again !== 'unreadable' && again?.token === token;
    if (same) {
      try {
        unlinkSync(path);
      } catch {
        // already gone
      }
    }
  } finally {
    try {
      unlinkSync(breaker);
    } catch {
      // already gone
    }
  }
}

function hold(
  path: string,
  holder: LockHolder,
  heartbeatMs: number,
  now: () => number,
  madeDirs: readonly string[],
): OperationLock {
  let released = false;
  const mine = (): boolean => {
    const h = readHolder(path);
    return h !== undefined && h !== 'unreadable' && h.token === holder.token;
  };
  const timer = setInterval(() => {
    try {
      if (!mine()) return;
      // Written beside it and renamed over it: a reader never sees a half-written file.
      const tmp = `${path}.${holder.token}.tmp`;
      const fd = openSync(tmp, 'w', 0o600);
      try {
        writeSync(fd, `${JSON.stringify({ ...holder, heartbeat: new Date(now()).toISOString() })}\n`);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, path);
    } catch {
      // The state dir was removed (`down --purge`) or is read-only for a moment: the next beat tries again.
    }
  }, heartbeatMs);
  timer.unref();
  return {
    holder,
    path,
    release() {
      if (released) return;
      released = true;
      clearInterval(timer);
      try {
        if (mine()) unlinkSync(path);
      } catch {
        // gone with the state dir
      }
      removeEmpty(madeDirs);
    },
  };
}

/** Runs `fn` holding the cluster's operation lock; released however `fn` ends. */
export async function withOperationLock<T>(
  stateDir: string,
  operation: string,
  fn: () => Promise<T>,
  opts: LockOptions = {},
): Promise<T> {
  const lock = await acquireOperationLock(stateDir, operation, opts);
  try {
    return await fn();
  } finally {
    lock.release();
  }
}
