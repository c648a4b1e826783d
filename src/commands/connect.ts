/** Finds a node to send API requests to: the first that answers unsealed, preferring the active one. */

import { RemoteError, UsageError } from '../errors.js';
import { nodeAddress } from '../spec/names.js';
import type { ClusterSpec } from '../spec/spec.js';
import { connectVaultNode } from '../vault/api.js';
import type { VaultNode, VaultTls } from '../vault/port.js';
import { VaultRequestError } from '../vault/port.js';

export async function connectToCluster(
  spec: ClusterSpec,
  token: string | undefined,
  tls: VaultTls | undefined,
  doing: string,
): Promise<VaultNode> {
  if (!token) {
    throw new UsageError(
      doing,
      'no token: the state dir holds no root token and BAO_TOKEN/VAULT_TOKEN is not set',
      'run `vaultctl init` first, or export a token',
    );
  }
  let standby: VaultNode | undefined;
  const problems: string[] = [];
  for (const n of spec.nodes) {
    const api = connectVaultNode({ address: nodeAddress(spec, n), token, tls });
    try {
      const h = await api.health();
      if (!h.initialized || h.sealed) {
        problems.push(`${n.name} ${h.initialized ? 'sealed' : 'not initialised'}`);
        continue;
      }
      if (!h.standby) return api;
      standby ??= api;
    } catch (err) {
      if (err instanceof VaultRequestError && err.kind === 'tls') throw err;
      problems.push(`${n.name} unreachable`);
    }
  }
  if (standby) return standby;
  throw new RemoteError(
    doing,
    `no node can serve requests (${problems.join(', ')})`,
    '`vaultctl health` shows the cluster; `vaultctl up`, `vaultctl unseal`',
  );
}
