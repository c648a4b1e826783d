/**
 * `unsealCluster`: submits Shamir key shares to every sealed node, from the state dir or typed in.
 * Auto-unseal clusters need nothing: it reports how they stand.
 */

import type { Progress } from '../cluster/events.js';
import type { Clock } from '../cluster/poll.js';
import { pollUntil } from '../cluster/poll.js';
import { UsageError } from '../errors.js';
import type { HealthTarget } from '../health/health.js';
import { connectVaultNode } from '../vault/api.js';
import type { VaultNode, VaultTls } from '../vault/port.js';
import { VaultRequestError } from '../vault/port.js';

export interface UnsealDeps {
  readonly progress: Progress;
  /** Provides the key shares: stored ones, or typed in by the user. Called once, only if needed. */
  readonly keys: () => Promise<readonly string[]>;
  readonly signal?: AbortSignal | undefined;
  readonly clock?: Clock;
  readonly tls?: VaultTls | undefined;
}

export interface NodeUnsealResult {
  readonly name: string;
  readonly before: 'unsealed' | 'sealed' | 'uninitialised' | 'unreachable';
  readonly after: 'unsealed' | 'sealed' | 'uninitialised' | 'unreachable';
}

export async function unsealCluster(
  targets: readonly HealthTarget[],
  deps: UnsealDeps,
  opts: { timeoutMs?: number } = {},
): Promise<NodeUnsealResult[]> {
  let keys: readonly string[] | undefined;
  const getKeys = async () => {
    keys ??= await deps.keys();
    if (keys.length === 0) throw new UsageError('unsealing', 'no key shares given');
    return keys;
  };
  const results: NodeUnsealResult[] = [];
  for (const t of targets) {
    const api = connectVaultNode({ address: t.address, tls: deps.tls });
    let s: Awaited<ReturnType<VaultNode['sealStatus']>>;
    try {
      s = await api.sealStatus();
    } catch (err) {
      if (err instanceof VaultRequestError && err.kind === 'tls') throw err;
      results.push({ name: t.name, before: 'unreachable', after: 'unreachable' });
      deps.progress.warn(`${t.name} does not answer at ${t.address}; skipped`);
      continue;
    }
    if (!s.sealed) {
      results.push({ name: t.name, before: 'unsealed', after: 'unsealed' });
      continue;
    }
    if (s.type !== 'shamir') {
      deps.progress.info(`${t.name} uses the ${s.type} seal and unseals itself; waiting`);
    } else {
      deps.progress.step(`unsealing ${t.name}`);
    }
    const before = s.initialized ? 'sealed' : 'uninitialised';
    const unsealed = await pollUntil(
      async () => {
        const st = await api.sealStatus();
        if (!st.sealed) return true;
        if (st.type !== 'shamir') return undefined;
        const ks = await getKeys();
        try {
          for (let i = st.progress; i < st.t; i++) {
            const key = ks[i];
            if (key === undefined) {
              throw new UsageError(
                `unsealing ${t.name}`,
                `threshold is ${st.t} but only ${ks.length} key shares were given`,
              );
            }
            const r = await api.unseal(key);
            if (!r.sealed) return true;
          }
        } catch (err) {
          if (
            err instanceof VaultRequestError &&
            err.status === 400 &&
            /not initialized|no raft/i.test(err.errors.join(' '))
          )
            return undefined;
          if (err instanceof VaultRequestError && err.status === 400) {
            throw new UsageError(
              `unsealing ${t.name}`,
              `the node refused a key share: ${err.errors.join('; ')}`,
              'check that the shares belong to this cluster',
            );
          }
          throw err;
        }
        return undefined;
      },
      {
        what: `${t.name} to unseal`,
        timeoutMs: opts.timeoutMs ?? 60_000,
        intervalMs: 500,
        signal: deps.signal,
        ...(deps.clock ? { clock: deps.clock } : {}),
      },
    ).catch((err) => {
      if (err instanceof UsageError) throw err;
      deps.progress.warn(`${t.name}: ${(err as Error).message}`);
      return false;
    });
    results.push({ name: t.name, before, after: unsealed ? 'unsealed' : 'sealed' });
    if (unsealed) deps.progress.done(`${t.name} unsealed`);
  }
  return results;
}
