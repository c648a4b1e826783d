/**
 * Unsealing with Shamir key shares: `unsealWithShares` for one node (bootstrap, the restore and
 * `vaultctl unseal` all go through it) and `unsealCluster` for every sealed node of a cluster, from
 * the state dir or typed in. Auto-unseal nodes need nothing: they are only waited for.
 */

import type { Progress } from '../cluster/events.js';
import type { Clock } from '../cluster/poll.js';
import { pollUntil } from '../cluster/poll.js';
import { UsageError } from '../errors.js';
import type { HealthTarget } from '../health/health.js';
import type { SealStatus, VaultConnector, VaultNode, VaultTls } from '../vault/port.js';
import { VaultRequestError } from '../vault/port.js';

/**
 * What a node answers while it cannot take key shares yet: a follower that has not received the
 * leader's join challenge says "not initialized", one in the middle of its join "join in progress".
 */
const NOT_READY_FOR_SHARES = /not initialized|not yet initialized|no raft join|join in progress|sealed/i;

export interface UnsealWithSharesOptions {
  /** The node's name, for messages. */
  readonly name: string;
  /**
   * Repeats `attempt` until it gives true: `pollUntil`, or `RunningCluster.waitFor` to attach the
   * node's log on timeout. The caller chooses the budget and the words of the timeout message.
   */
  readonly wait: (attempt: () => Promise<true | undefined>) => Promise<true>;
  /**
   * How many shares unseal the node, when the caller knows (bootstrap stored them with the
   * threshold); otherwise the node's own answer. A follower whose join is under way may not know yet.
   */
  readonly threshold?: number;
  /**
   * The shares are part of a seal migration (`-migrate`): submitted while the node says a migration
   * is under way, whatever its seal type. Unseal keys from Shamir, recovery keys from an auto seal.
   */
  readonly migrate?: boolean;
}

/**
 * Submits key shares to one node until it is unsealed, continuing from the node's unseal progress
 * (an interrupted unseal resumes). A node that cannot take shares yet is waited for, and so is one
 * with an auto-unseal seal. Fewer shares than the threshold, or a share the node refuses, end the
 * wait with a UsageError: waiting does not mend either.
 *
 * @param keys called on the first attempt that needs them (typed in by the user, perhaps).
 */
export async function unsealWithShares(
  node: VaultNode,
  keys: () => Promise<readonly string[]>,
  opts: UnsealWithSharesOptions,
): Promise<void> {
  const { name } = opts;
  await opts.wait(async () => {
    const st = await node.sealStatus();
    if (!st.sealed) return true;
    if (opts.migrate ? !st.migration : st.type !== 'shamir') return undefined;
    const ks = await keys();
    const threshold = opts.threshold ?? st.t;
    try {
      for (let i = st.progress; i < threshold; i++) {
        const key = ks[i];
        if (key === undefined) {
          throw new UsageError(
            `unsealing ${name}`,
            `threshold is ${threshold} but only ${ks.length} key shares were given`,
            `give ${threshold} different key shares (vaultctl unseal --prompt asks for them)`,
          );
        }
        const r = await node.unseal(key, opts.migrate ? { migrate: true } : {});
        if (!r.sealed) return true;
      }
    } catch (err) {
      if (
        err instanceof VaultRequestError &&
        (err.status === 400 || err.status === 503) &&
        NOT_READY_FOR_SHARES.test(err.errors.join(' '))
      )
        return undefined;
      if (err instanceof VaultRequestError && err.status === 400) {
        throw new UsageError(
          `unsealing ${name}`,
          `the node refused a key share: ${err.errors.join('; ')}`,
          'check that the shares belong to this cluster',
        );
      }
      throw err;
    }
    return undefined;
  });
}

export interface UnsealDeps {
  readonly progress: Progress;
  /** Provides the key shares: stored ones, or typed in by the user. Called once, only if needed. */
  readonly keys: () => Promise<readonly string[]>;
  /** Makes the API clients (the cluster's connector). */
  readonly connect: VaultConnector;
  readonly signal?: AbortSignal | undefined;
  readonly clock?: Clock;
  readonly tls?: VaultTls | undefined;
}

/** How long an auto-unseal node gets to unseal itself: a start takes seconds, not minutes. */
export const AUTO_UNSEAL_WAIT_MS = 15_000;

export interface NodeUnsealResult {
  readonly name: string;
  readonly before: 'unsealed' | 'sealed' | 'uninitialised' | 'unreachable';
  readonly after: 'unsealed' | 'sealed' | 'uninitialised' | 'unreachable';
}

/**
 * `unsealCluster`: submits key shares to every sealed node, one node after the other. A node that
 * does not answer is skipped with a warning; one that stays sealed is reported, not thrown.
 */
export async function unsealCluster(
  targets: readonly (HealthTarget & { readonly container?: string })[],
  deps: UnsealDeps,
  opts: { timeoutMs?: number } = {},
): Promise<NodeUnsealResult[]> {
  let keys: readonly string[] | undefined;
  const getKeys = async () => {
    keys ??= await deps.keys();
    if (keys.length === 0)
      throw new UsageError(
        'unsealing',
        'no key shares given',
        'vaultctl unseal --prompt asks for them; without it the shares in init.json are used',
      );
    return keys;
  };
  const results: NodeUnsealResult[] = [];
  for (const t of targets) {
    const api = deps.connect({ address: t.address, tls: deps.tls });
    let s: SealStatus;
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
    const auto = s.type !== 'shamir';
    const restart = t.container ? `docker restart ${t.container}` : 'restart its server';
    if (auto) {
      // An auto-unseal node unseals itself when it starts; one sealed by hand (`operator seal`)
      // stays sealed until it restarts. Said at once, and waited for only as long as a start takes.
      deps.progress.info(
        `${t.name} uses the ${s.type} seal and unseals itself when it starts; waiting up to ${AUTO_UNSEAL_WAIT_MS / 1000} s (a node sealed by hand stays sealed until restarted: ${restart})`,
      );
    } else {
      deps.progress.step(`unsealing ${t.name}`);
    }
    const before = s.initialized ? 'sealed' : 'uninitialised';
    const unsealed = await unsealWithShares(api, getKeys, {
      name: t.name,
      wait: (attempt) =>
        pollUntil(attempt, {
          what: `${t.name} to unseal`,
          timeoutMs: auto
            ? Math.min(AUTO_UNSEAL_WAIT_MS, opts.timeoutMs ?? 60_000)
            : (opts.timeoutMs ?? 60_000),
          intervalMs: 500,
          signal: deps.signal,
          ...(deps.clock ? { clock: deps.clock } : {}),
        }),
    }).then(
      () => true,
      (err) => {
        if (err instanceof UsageError) throw err;
        deps.progress.warn(
          auto
            ? `${t.name} is still sealed: key shares cannot unseal an auto-unseal node; restart it (${restart}), and if it stays sealed check that its seal (key, KMS) is reachable`
            : `${t.name}: ${(err as Error).message}`,
        );
        return false;
      },
    );
    results.push({ name: t.name, before, after: unsealed ? 'unsealed' : 'sealed' });
    if (unsealed) deps.progress.done(`${t.name} unsealed`);
  }
  return results;
}
