/**
 * The first steps of a bootstrap: every node answers, the first node is initialised (the key
 * material stored before anything else happens) and unsealed, an active node appears, and the
 * token for the rest of the run is chosen.
 */
import type { NodeHandle } from '../cluster/running.js';
import { RemoteError, UsageError } from '../errors.js';
import type { InitRequest, SealStatus } from '../vault/port.js';
import { VaultRequestError } from '../vault/port.js';
import type { BootstrapContext } from './bootstrap-context.js';
import { unsealWithShares } from './unseal.js';

/** Waits until every node answers, before anything changes; returns each node's seal status. */
export async function waitForNodes(ctx: BootstrapContext): Promise<Map<string, SealStatus>> {
  ctx.progress.step('waiting for every node to answer');
  const statuses = new Map<string, SealStatus>();
  for (const n of ctx.cluster.nodes) {
    try {
      statuses.set(
        n.name,
        await ctx.poll(`${n.name} to answer`, () => ctx.api(n).sealStatus(), Math.min(ctx.timeoutMs, 30_000)),
      );
    } catch (err) {
      // An untrusted certificate says more than "does not answer": keep its own message and hint.
      if (err instanceof VaultRequestError && err.kind === 'tls') throw err;
      throw new RemoteError(
        `initialising cluster ${ctx.spec.name}`,
        `node ${n.name} does not answer at ${ctx.api(n).address}: ${(err as Error).message}`,
        'start the cluster first (`vaultctl up`); `vaultctl health` shows which nodes are down. Nothing was changed.',
      );
    }
  }
  ctx.mark('nodesAnswering');
  return statuses;
}

/**
 * Initialises the first node, or finds the node that already is. The key shares and root token
 * are saved (0600) the moment the node returns them. Returns the node the cluster grows from.
 */
export async function initFirstNode(
  ctx: BootstrapContext,
  statuses: ReadonlyMap<string, SealStatus>,
): Promise<NodeHandle> {
  const { spec, state, cluster } = ctx;
  const first = cluster.nodes.find((n) => statuses.get(n.name)?.initialized) ?? cluster.nodes[0]!;
  if (statuses.get(first.name)?.initialized) {
    ctx.record(`initialise ${first.name}`, false);
    ctx.mark('firstInitialised');
    return first;
  }
  if (ctx.material) {
    throw new UsageError(
      `initialising cluster ${spec.name}`,
      `no node is initialised, but ${state.initFile} holds the keys of an earlier cluster (created ${ctx.material.createdAt})`,
      `vaultctl never overwrites key material. If that cluster is gone for good, move the file away (it is the only copy of its keys) and run init again`,
    );
  }
  state.ensure();
  ctx.progress.step(`initialising ${first.name}`);
  const { shares, threshold } = spec.seal;
  const pgp = ctx.opts.pgpKeys && ctx.opts.pgpKeys.length > 0 ? [...ctx.opts.pgpKeys] : undefined;
  const req: InitRequest = ctx.auto
    ? { recovery_shares: shares, recovery_threshold: threshold, ...(pgp ? { recovery_pgp_keys: pgp } : {}) }
    : { secret_shares: shares, secret_threshold: threshold, ...(pgp ? { pgp_keys: pgp } : {}) };
  const res = await ctx.api(first).init(req);
  ctx.material = {
    version: 1,
    createdAt: new Date().toISOString(),
    cluster: spec.name,
    sealType: spec.seal.type,
    keyKind: ctx.auto ? 'recovery' : 'unseal',
    shares,
    threshold,
    keys: (ctx.auto ? res.recovery_keys_base64 : res.keys_base64) ?? [],
    pgp: Boolean(pgp),
    rootToken: res.root_token,
  };
  state.saveInit(ctx.material);
  ctx.initialisedNow = true;
  ctx.record(
    `initialise ${first.name}`,
    true,
    `${shares} ${ctx.material.keyKind} key shares, threshold ${threshold}, stored in ${state.initFile} (0600)`,
  );
  ctx.mark('firstInitialised');
  return first;
}

/** Unseals a Shamir node with the stored key shares (refuses PGP-encrypted ones). */
export async function unsealWithStoredShares(ctx: BootstrapContext, n: NodeHandle): Promise<void> {
  const material = ctx.material;
  if (!material || material.keys.length === 0) {
    throw new UsageError(
      `unsealing ${n.name}`,
      'no unseal keys in the state dir',
      'type them in: `vaultctl unseal --prompt`',
    );
  }
  if (material.pgp) {
    throw new UsageError(
      `unsealing ${n.name}`,
      'the stored key shares are PGP-encrypted; vaultctl cannot use them',
      'decrypt your shares and type them in: `vaultctl unseal --prompt`',
    );
  }
  await unsealWithShares(ctx.api(n), async () => material.keys, {
    name: n.name,
    threshold: material.threshold,
    wait: (attempt) => ctx.waitOn(n, `${n.name} to accept unseal keys`, attempt),
  });
}

/** Unseals the first node (Shamir) or waits for it to unseal itself. */
export async function unsealFirstNode(ctx: BootstrapContext, first: NodeHandle): Promise<void> {
  const { auto, spec } = ctx;
  const status = await ctx.api(first).sealStatus();
  if (!status.sealed) {
    const waited = ctx.initialisedNow && auto;
    ctx.record(
      `unseal ${first.name}`,
      waited ? 'waited' : false,
      waited ? `auto-unsealed (${spec.seal.type} seal)` : undefined,
    );
    return;
  }
  ctx.progress.step(`unsealing ${first.name}`);
  if (auto)
    await ctx.waitOn(first, `${first.name} to auto-unseal`, async () =>
      (await ctx.api(first).sealStatus()).sealed ? undefined : true,
    );
  else await unsealWithStoredShares(ctx, first);
  ctx.record(
    `unseal ${first.name}`,
    true,
    auto ? `auto-unsealed (${spec.seal.type} seal)` : 'with stored key shares',
  );
}

/**
 * Waits for an active node and gives every client the token for what follows: the fresh root
 * token right after init; otherwise the cluster's (BAO_TOKEN/VAULT_TOKEN, the admin credential
 * after --revoke-root), else the stored root token. Resolved only now: an admin login needs an
 * unsealed, active node. Returns the active node.
 */
export async function waitForLeader(ctx: BootstrapContext, first: NodeHandle): Promise<NodeHandle> {
  const { cluster, state, material } = ctx;
  ctx.progress.step('waiting for an active node');
  const leader = await ctx.waitOn(first, 'an active node', () => cluster.active());
  const token = ctx.initialisedNow
    ? material?.rootToken
    : ((await cluster.token({ root: false })) ?? (state.rootRevoked() ? undefined : material?.rootToken));
  if (!token) {
    throw new UsageError(
      `configuring cluster ${ctx.spec.name}`,
      `the cluster is already initialised but ${state.initFile} does not exist, and no VAULT_TOKEN/BAO_TOKEN is set`,
      'point --state-dir at the state dir that holds init.json, or export VAULT_TOKEN with an admin token to finish the setup',
    );
  }
  ctx.useToken(token);
  ctx.mark('leaderActive');
  return leader;
}
