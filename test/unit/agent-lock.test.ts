import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runBackup } from '../../src/agent/backup-job.js';
import { agentLock } from '../../src/agent/lock.js';
import { makeLogger } from '../../src/agent/log.js';
import { StatusStore } from '../../src/agent/status.js';
import { acquireOperationLock } from '../../src/lock/lock.js';

const work = mkdtempSync(join(tmpdir(), 'vaultctl-unit-agent-lock-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("the agent's backups and the operation lock", () => {
  it('a backup does not start while another operation holds the lock, names it, and runs once it is released', async () => {
    const state = join(work, 'state');
    const saves: string[] = [];
    const deps = {
      stagingDir: join(state, 'agent', 'staging'),
      // Stops the run right after the lock: what matters is whether the snapshot was taken.
      save: async (dir: string) => {
        saves.push(dir);
        throw new Error('saved (test stops here)');
      },
      targets: [],
      store: new StatusStore(state, Date.now()),
      log: makeLogger('json', () => {}),
      clock: { now: Date.now, sleep: async () => {} },
      lock: agentLock(state),
    };
    const drill = await acquireOperationLock(state, 'failover-drill');
    const refused = await runBackup(deps, new AbortController().signal).catch((e: Error) => e);
    expect(refused).toBeInstanceOf(Error);
    expect((refused as Error).message).toMatch(/failover-drill/);
    expect(saves).toEqual([]);

    drill.release();
    const ran = await runBackup(deps, new AbortController().signal).catch((e: Error) => e);
    expect((ran as Error).message).toBe('saved (test stops here)');
    expect(saves).toHaveLength(1);
    // The agent released it: the next operation takes it at once.
    (await acquireOperationLock(state, 'snapshot restore')).release();
  });
});
