/**
 * The credentials a benchmark run seeds and removes. Each run writes under its own prefix in the
 * KV mount, `vaultctl-bench/<run-id>/`, with the seed's path shape inside it
 * (`tenants/<tenant-id>/exchanges/<exchange>/<type>`), so the load is the application's and a run
 * can only ever touch what it created: it refuses a prefix that already holds a key, creates each
 * credential only where none exists (KV v2 check-and-set 0), and removes only what it created.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { credentialPath } from '../client/index.js';
import { errorMessage, throwIfAborted, UsageError } from '../errors.js';
import type { VaultNode } from '../vault/port.js';
import { VaultRequestError } from '../vault/port.js';

/** Every run's prefix lives under this folder of the KV mount. */
export const BENCH_ROOT = 'vaultctl-bench';

export interface SeedPlan {
  /** The run's own folder in the KV mount, e.g. `vaultctl-bench/20250102T030405Z-1a2b3c4d`. */
  readonly prefix: string;
  /** Per tenant, 3 exchanges x 2 credential types, each under the prefix. */
  readonly paths: readonly string[];
}

/** Where a run's credentials go. The run id is the start time (to tell runs apart) and 32 random bits. */
export function seedPlan(
  tenants: number,
  ids: { readonly run?: string; readonly tenant?: () => string } = {},
): SeedPlan {
  const run =
    ids.run ?? `${new Date().toISOString().replace(/[-:]|\.\d+/g, '')}-${randomBytes(4).toString('hex')}`;
  const tenant = ids.tenant ?? randomUUID;
  const prefix = `${BENCH_ROOT}/${run}`;
  const paths: string[] = [];
  for (let t = 0; t < tenants; t++) {
    const id = tenant();
    for (const ex of ['binance', 'kraken', 'coinbase'])
      for (const ty of ['readonly', 'trading'] as const)
        paths.push(`${prefix}/${credentialPath(id, ex, ty)}`);
  }
  return { prefix, paths };
}

/** What the seed's "List Secrets" lists: each seeded tenant's exchanges (`<prefix>/tenants/<id>/exchanges`). */
export function tenantListPrefixes(plan: SeedPlan): string[] {
  return [...new Set(plan.paths.map((p) => p.split('/').slice(0, -2).join('/')))];
}

/** The one call seeding and cleanup make: a `VaultNode`, or a double in tests. */
export type SeedNode = Pick<VaultNode, 'call'>;

/** Parallel requests while seeding and cleaning up: enough to be quick, few enough not to queue. */
const BATCH = 20;

async function inBatches(
  paths: readonly string[],
  each: (path: string) => Promise<unknown>,
  signal?: AbortSignal,
): Promise<void> {
  for (let i = 0; i < paths.length; i += BATCH) {
    throwIfAborted(signal, 'seeding the benchmark credentials');
    await Promise.all(paths.slice(i, i + BATCH).map(each));
  }
}

const refusal = (mount: string, what: string) =>
  new UsageError(
    'seeding the benchmark credentials',
    `${what}: a benchmark writes only where nothing exists, and removes only what it wrote`,
    `each run picks a new prefix under ${mount}/${BENCH_ROOT}/: run it again; \`bao kv list ${mount}/${BENCH_ROOT}\` shows what is there`,
  );

/**
 * Seeds the plan's credentials on `node`. Every path a write was sent for is added to `created`
 * before the write (a write that timed out may have landed), and taken out again when the node
 * answers that the key already existed: `created` is what cleanup may remove.
 *
 * @throws UsageError when the prefix already holds a key or a credential already exists (nothing
 *   that was there is changed); the node's RemoteError when a write fails; CancelledError.
 */
export async function seedCredentials(
  node: SeedNode,
  mount: string,
  plan: SeedPlan,
  created: Set<string>,
  signal?: AbortSignal,
): Promise<void> {
  const existing = await listKeys(node, mount, plan.prefix);
  if (existing.length > 0)
    throw refusal(
      mount,
      `${mount}/${plan.prefix}/ already holds ${existing.map((k) => `"${k}"`).join(', ')}`,
    );
  await inBatches(
    plan.paths,
    async (path) => {
      created.add(path);
      try {
        await node.call('POST', `/${mount}/data/${path}`, `seeding ${mount}/${path}`, {
          // Check-and-set 0: the write succeeds only if the key does not exist yet.
          options: { cas: 0 },
          data: { api_key: 'seed', secret: 'seed-secret' },
        });
      } catch (err) {
        if (err instanceof VaultRequestError && err.status === 400 && /check-and-set/i.test(err.message)) {
          created.delete(path);
          throw refusal(mount, `${mount}/${path} already exists`);
        }
        throw err;
      }
    },
    signal,
  );
}

async function listKeys(node: SeedNode, mount: string, prefix: string): Promise<string[]> {
  try {
    const res = await node.call<{ data?: { keys?: string[] } }>(
      'LIST',
      `/${mount}/metadata/${prefix}/`,
      `listing ${mount}/${prefix}/`,
    );
    return res.data?.keys ?? [];
  } catch (err) {
    if (err instanceof VaultRequestError && err.status === 404) return [];
    throw err;
  }
}

export interface CleanupResult {
  /** The paths still there (or not known to be gone), in the plan's order. */
  readonly left: readonly string[];
  /** Why the last of them could not be removed. */
  readonly cause?: string;
}

/**
 * Removes `paths` (metadata and every version) in up to two passes: the first on the node
 * `pick(0)` gives, the paths that failed again on `pick(1)`'s (the caller can wait there for a
 * new leader). Never throws: what could not be removed is returned, with the first pass's cause
 * and, when the second pass found no node, why.
 */
export async function removeCredentials(
  pick: (pass: number) => Promise<SeedNode>,
  mount: string,
  paths: readonly string[],
): Promise<CleanupResult> {
  let left = [...paths];
  let cause: string | undefined;
  for (let pass = 0; pass < 2 && left.length > 0; pass++) {
    let node: SeedNode;
    try {
      node = await pick(pass);
    } catch (err) {
      cause = cause ? `${cause}; then ${errorMessage(err)}` : errorMessage(err);
      continue;
    }
    const failed = new Set<string>();
    await inBatches(left, async (path) => {
      try {
        await node.call('DELETE', `/${mount}/metadata/${path}`, `removing ${mount}/${path}`);
      } catch (err) {
        failed.add(path);
        cause = err instanceof VaultRequestError ? `${err.doing}: ${err.message}` : errorMessage(err);
      }
    });
    left = left.filter((p) => failed.has(p));
  }
  return { left, ...(left.length > 0 && cause ? { cause } : {}) };
}
