/**
 * The agent's side of the cluster's operation lock (src/lock): a backup never runs beside a
 * restore, an upgrade, a seal migration or a drill. Held elsewhere, the run fails at once with the
 * holder named (counted in the status and metrics) and the next scheduled run tries again.
 */
import { acquireOperationLock } from '../lock/lock.js';
import type { AcquireLock } from './backup-job.js';

export function agentLock(stateRoot: string): AcquireLock {
  return async (operation, signal) => {
    const held = await acquireOperationLock(stateRoot, `agent ${operation}`, {
      signal,
      doing: `starting the agent's ${operation}`,
    });
    return () => held.release();
  };
}
