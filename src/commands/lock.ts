/**
 * The one wrapper by which a command takes its cluster's operation lock (src/lock/): the action
 * of each command that changes the cluster runs inside `locked`, so the use cases know nothing of
 * it and read-only commands (health, snapshot save, list) never take it. A dry run changes
 * nothing and takes no lock.
 */
import { acquireOperationLock } from '../lock/lock.js';
import type { CommandDeps, GlobalOptions } from './command-deps.js';
import { namedClusterState } from './command-deps.js';

/** Runs a command's `run` holding the operation lock of its cluster (exit 1 when another holds it). */
export async function locked(
  global: GlobalOptions,
  deps: CommandDeps,
  operation: string,
  run: () => Promise<number>,
  opts: { readonly dryRun?: boolean | undefined } = {},
): Promise<number> {
  const dir = opts.dryRun ? undefined : namedClusterState(global, deps)?.state.root;
  if (!dir) return run();
  const lock = await acquireOperationLock(dir, operation, {
    doing: `starting ${operation}`,
    signal: deps.signal,
  });
  try {
    return await run();
  } finally {
    lock.release();
  }
}
