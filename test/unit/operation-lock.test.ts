/**
 * The operation lock (issue 26 item 3): a second operation is refused naming the holder, its pid,
 * host and since when; a dead holder's lock is released (same host and PID namespace with the pid
 * gone at once; from another container or host once its heartbeat stopped); a waiter gets it once
 * released; the holder's heartbeat keeps a long operation's lock fresh.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import { acquireOperationLock, LOCK_FILE, type LockHolder, withOperationLock } from '../../src/lock/lock.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vctl-lock-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function writeHolder(over: Partial<LockHolder>): void {
  const now = new Date().toISOString();
  const h: LockHolder = {
    version: 1,
    operation: 'failover-drill',
    pid: 4242,
    host: 'other-host',
    pidNamespace: 'pid:[1]',
    bootId: 'b',
    since: now,
    heartbeat: now,
    token: 't',
    ...over,
  };
  mkdirSync(dirname(join(dir, LOCK_FILE)), { recursive: true, mode: 0o700 });
  writeFileSync(join(dir, LOCK_FILE), JSON.stringify(h), { mode: 0o600 });
}

/** A pid that certainly no longer runs: a child that has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {
    encoding: 'utf8',
  });
  return Number(r.stdout);
}

describe('operation lock', () => {
  it('refuses a second operation, naming the holder, its pid, host and since when (exit 1)', async () => {
    const first = await acquireOperationLock(dir, 'failover-drill');
    expect(statSync(join(dir, LOCK_FILE)).mode & 0o777).toBe(0o600);
    const err = await acquireOperationLock(dir, 'snapshot restore', {
      doing: 'restoring the snapshot',
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    const text = (err as UsageError).render();
    expect(text).toContain('Error restoring the snapshot: the cluster is busy: `failover-drill` holds');
    expect(text).toContain(`pid ${process.pid} on host `);
    expect(text).toContain(`since ${first.holder.since}`);
    expect(text).toMatch(/hint: nothing was changed; run this again once `failover-drill` has finished/);
    expect((err as UsageError).exitCode).toBe(1);
    first.release();
    const second = await acquireOperationLock(dir, 'snapshot restore');
    second.release();
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
  });

  it('releases a lock whose holder died on this host at once', async () => {
    const me = await acquireOperationLock(dir, 'probe');
    const { pidNamespace, bootId, host } = me.holder;
    me.release();
    writeHolder({ pid: deadPid(), host, pidNamespace, bootId });
    const lock = await acquireOperationLock(dir, 'down');
    expect(lock.holder.operation).toBe('down');
    lock.release();
  });

  it('does not trust a pid from another PID namespace (a container): a fresh heartbeat holds', async () => {
    const me = await acquireOperationLock(dir, 'probe');
    const { bootId, host } = me.holder;
    me.release();
    writeHolder({ pid: deadPid(), host, pidNamespace: 'pid:[999]', bootId, operation: 'agent backup' });
    await expect(acquireOperationLock(dir, 'down')).rejects.toThrow(/`agent backup` holds/);
  });

  it('releases a lock from another host or container whose heartbeat stopped', async () => {
    writeHolder({ heartbeat: new Date(Date.now() - 31_000).toISOString() });
    const lock = await acquireOperationLock(dir, 'upgrade');
    expect(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')).operation).toBe('upgrade');
    lock.release();
  });

  it('keeps a live holder fresh with its heartbeat', async () => {
    const lock = await acquireOperationLock(dir, 'failover-drill', { heartbeatMs: 20 });
    const t0 = JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')).heartbeat as string;
    await new Promise((r) => setTimeout(r, 120));
    const t1 = JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')).heartbeat as string;
    expect(Date.parse(t1)).toBeGreaterThan(Date.parse(t0));
    // Another container judges by the heartbeat: with a 100 ms stale limit it still sees it alive.
    await expect(
      acquireOperationLock(dir, 'down', { staleMs: 100, identity: { pidNamespace: 'pid:[other]' } }),
    ).rejects.toThrow(/the cluster is busy/);
    lock.release();
  });

  it('waits for the holder when asked to (the agent), and takes it once released', async () => {
    const first = await acquireOperationLock(dir, 'upgrade');
    setTimeout(() => first.release(), 150);
    const t0 = Date.now();
    const second = await acquireOperationLock(dir, 'agent backup', { wait: 5000 });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(100);
    second.release();
  });

  it('withOperationLock releases the lock when the operation fails', async () => {
    await expect(
      withOperationLock(dir, 'tls rotate', async () => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
  });

  it('never releases a lock that has become another holder’s', async () => {
    const first = await acquireOperationLock(dir, 'up');
    writeHolder({ token: 'someone-else' });
    first.release();
    expect(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')).token).toBe('someone-else');
  });
});

describe('operation lock and the state dir', () => {
  it('removes a state dir it made only for the lock, keeps one the operation filled', async () => {
    const empty = join(dir, 'fresh', 'cluster');
    await withOperationLock(empty, 'down', async () => undefined);
    expect(existsSync(join(dir, 'fresh'))).toBe(false);
    const filled = join(dir, 'filled');
    await withOperationLock(filled, 'up', async () => writeFileSync(join(filled, 'cluster.json'), '{}'));
    expect(existsSync(join(filled, 'cluster.json'))).toBe(true);
    expect(existsSync(join(filled, LOCK_FILE))).toBe(false);
  });
});
