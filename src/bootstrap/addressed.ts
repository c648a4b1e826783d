/**
 * `init --addr`: the checks before a cluster vaultctl did not start is bootstrapped. Every address
 * must be a distinct OpenBao/Vault node that speaks the scheme it was given, and a node that is
 * already initialised is taken over only when the state dir holds its keys. Nothing is changed
 * before every check passed.
 */
import { RemoteError, UsageError } from '../errors.js';
import type { SealStatus, VaultNode } from '../vault/port.js';
import { VaultRequestError } from '../vault/port.js';

export interface AddressedTarget {
  readonly name: string;
  readonly address: string;
  readonly api: VaultNode;
}

export interface AddressCheckOptions {
  readonly clusterName: string;
  /** True when the state dir holds the key material (init.json) of this cluster. */
  readonly haveKeys: boolean;
  /** Where those keys are, for the refusal's message. */
  readonly initFile: string;
  /** The node count the spec expects. */
  readonly expectedNodes: number;
}

/** What a TLS client sees when the server answers plain HTTP. */
const TLS_TO_PLAIN = /WRONG_VERSION_NUMBER|wrong version number|EPROTO|packet length too long/i;

/** Why one address is not a node vaultctl can initialise, or undefined when it is one. */
export function classifyProbe(
  t: Pick<AddressedTarget, 'address'>,
  result: { status: SealStatus } | { error: unknown },
): UsageError | RemoteError | undefined {
  const doing = `checking ${t.address}`;
  if ('status' in result) {
    const s = result.status as Partial<SealStatus> | undefined;
    if (!s || typeof s.initialized !== 'boolean' || typeof s.sealed !== 'boolean') {
      return new UsageError(
        doing,
        'the address answers, but not as an OpenBao/Vault node (no seal status in its answer)',
        'give the address of each node itself (its API port), not a load balancer or another service',
      );
    }
    return undefined;
  }
  const err = result.error;
  if (!(err instanceof VaultRequestError))
    return new RemoteError(
      doing,
      (err as Error).message,
      'check the address of each node; nothing was changed',
    );
  if (err.plainHttpToTls) {
    return new UsageError(
      doing,
      'the node serves HTTPS but the address is http://',
      `use ${t.address.replace(/^http:/, 'https:')}; the CA comes from BAO_CACERT/VAULT_CACERT or the state dir of --cluster`,
    );
  }
  if (t.address.startsWith('https:') && TLS_TO_PLAIN.test(err.message)) {
    return new UsageError(
      doing,
      'the node answers plain HTTP but the address is https://',
      `use ${t.address.replace(/^https:/, 'http:')} (and know that the node's traffic is not encrypted)`,
    );
  }
  if (err.kind === 'unreachable' || err.kind === 'timeout') {
    return new UsageError(
      doing,
      `no node answers there (${err.kind === 'timeout' ? 'no answer in time' : 'nothing accepts the connection'})`,
      'check the address and port of each node (--addr or VAULTCTL_NODE_ADDRS); is the node running? Nothing was changed',
    );
  }
  if (err.kind === 'http') {
    return new UsageError(
      doing,
      `the address answers HTTP ${err.status ?? '(no status)'} to sys/seal-status, which every OpenBao/Vault node answers: it is not a node`,
      'give the address of each node itself (its API port), not a load balancer such as the active-node endpoint',
    );
  }
  return err;
}

/**
 * Probes every address once (sys/seal-status, unauthenticated) and refuses before anything
 * changes: an address given twice, the wrong node count, an address that is not a node, a node
 * that speaks the other scheme, or a node initialised by someone else (no keys in the state dir).
 * Returns each node's seal status.
 */
export async function checkAddressedNodes(
  targets: readonly AddressedTarget[],
  opts: AddressCheckOptions,
): Promise<Map<string, SealStatus>> {
  const doing = `initialising cluster ${opts.clusterName} by address`;
  const seen = new Set<string>();
  for (const t of targets) {
    if (seen.has(t.address))
      throw new UsageError(doing, `${t.address} is given twice`, 'give each node once');
    seen.add(t.address);
  }
  if (targets.length !== opts.expectedNodes) {
    throw new UsageError(
      doing,
      `${targets.length} addresses given, but the cluster spec has ${opts.expectedNodes} nodes`,
      `give one address per node, or set the node count with --nodes ${targets.length}`,
    );
  }
  const results = await Promise.all(
    targets.map(async (t) => {
      try {
        return { status: await t.api.sealStatus() };
      } catch (error) {
        return { error };
      }
    }),
  );
  const statuses = new Map<string, SealStatus>();
  for (const [i, t] of targets.entries()) {
    const r = results[i]!;
    const problem = classifyProbe(t, r);
    if (problem) throw problem;
    if (r.status) statuses.set(t.name, r.status);
  }
  const initialised = targets.filter((t) => statuses.get(t.name)?.initialized);
  if (initialised.length > 0 && !opts.haveKeys) {
    throw new UsageError(
      doing,
      `${initialised.map((t) => t.address).join(', ')} ${initialised.length > 1 ? 'are' : 'is'} already initialised, and ${opts.initFile} holds no keys for it: someone else initialised this cluster`,
      'vaultctl takes over only a cluster whose keys its state dir holds (the --cluster name picks the state dir); nothing was changed',
    );
  }
  return statuses;
}
