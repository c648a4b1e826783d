/**
 * A write that fails half way (a full disk) leaves nothing behind: neither the temp file of the
 * atomic write nor, for a snapshot whose sidecar does not fit, the snapshot itself. The failure is
 * injected into node:fs's writeSync for the files a test names, since a full disk cannot be faked
 * portably.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { UsageError } from '../../src/errors.js';
import { saveSnapshot } from '../../src/snapshot/save.js';
import type { ClusterSpec } from '../../src/spec/schema.js';
import { writeFileAtomic } from '../../src/state/atomic.js';
import type { StateDir } from '../../src/state/state-dir.js';
import type { VaultNode } from '../../src/vault/port.js';
import { silentProgress } from '../helpers/progress.js';

const disk = vi.hoisted(() => ({
  /** Files whose name matches get ENOSPC on write, as on a full disk. */
  full: undefined as RegExp | undefined,
  fds: new Set<number>(),
}));
const enospc = vi.hoisted(
  () => () => Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }),
);

vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  const openSync = ((path: Parameters<typeof fs.openSync>[0], ...rest: unknown[]) => {
    const fd = (fs.openSync as (...a: unknown[]) => number)(path, ...rest);
    if (disk.full?.test(String(path))) disk.fds.add(fd);
    return fd;
  }) as typeof fs.openSync;
  const writeSync = ((fd: number, ...rest: unknown[]) => {
    if (disk.fds.has(fd)) throw enospc();
    return (fs.writeSync as (...a: unknown[]) => number)(fd, ...rest);
  }) as typeof fs.writeSync;
  // As on a real full disk, the file is created and the write then fails.
  const writeFileSync = ((path: Parameters<typeof fs.writeFileSync>[0], ...rest: unknown[]) => {
    if (typeof path === 'string' && disk.full?.test(path)) {
      fs.closeSync(fs.openSync(path, 'w', 0o600));
      throw enospc();
    }
    return (fs.writeFileSync as (...a: unknown[]) => void)(path, ...rest);
  }) as typeof fs.writeFileSync;
  const mocked = { openSync, writeSync, writeFileSync };
  return { ...fs, default: { ...fs, ...mocked }, ...mocked };
});

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'vaultctl-unit-atomic-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  disk.full = undefined;
});

describe('writeFileAtomic on a full disk', () => {
  it('throws the write error and removes its temp file; an old file stays as it was', () => {
    const out = mkdtempSync(join(dir, 'plain-'));
    const path = join(out, 'cluster.json');
    writeFileAtomic(path, 'old\n');
    disk.full = /cluster\.json\.tmp-/;
    try {
      expect(() => writeFileAtomic(path, 'new\n')).toThrow('ENOSPC');
    } finally {
      disk.full = undefined;
    }
    expect(readdirSync(out)).toEqual(['cluster.json']);
    expect(readFileSync(path, 'utf8')).toBe('old\n');
  });
});

describe('snapshot save whose sidecar does not fit', () => {
  let server: Server;
  let address: string;
  beforeAll(async () => {
    server = createServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/gzip' });
      res.end(Buffer.alloc(64 * 1024, 7));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    address = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => {
    server.closeAllConnections();
    server.close();
  });

  it('exits with the disk hint and leaves neither the snapshot nor a temp file', async () => {
    const out = mkdtempSync(join(dir, 'save-'));
    const api = {
      address,
      health: async () => ({ cluster_id: 'c', version: '2.7.2' }),
      sealStatus: async () => ({ type: 'shamir' }),
      leader: async () => ({ raft_committed_index: 42 }),
      autopilotState: async () => ({ servers: {} }),
    } as unknown as VaultNode;
    const spec = { name: 'unit', flavor: 'openbao' } as unknown as ClusterSpec;
    const state = { sealKeyFile: join(dir, 'no-such-seal-key') } as unknown as StateDir;
    disk.full = /\.snap\.json\.tmp-/;
    let err: unknown;
    try {
      err = await saveSnapshot(
        spec,
        state,
        { api, token: 't', progress: silentProgress },
        { dir: out },
      ).catch((e: unknown) => e);
    } finally {
      disk.full = undefined;
    }
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).message).toMatch(/^writing the metadata of .*\.snap: ENOSPC/);
    expect((err as UsageError).hint).toContain('the disk is full');
    expect(readdirSync(out)).toEqual([]);
  });
});
