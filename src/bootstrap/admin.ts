/**
 * The admin credential that replaces the root token after `init --revoke-root`, and the way back:
 * a new root token generated from the key shares (`vaultctl root-token`).
 */

import type { TokenSources } from '../cluster/running.js';
import { UsageError } from '../errors.js';
import type { StateDir } from '../state/state-dir.js';
import type { VaultNode } from '../vault/port.js';
import { VaultRequestError } from '../vault/port.js';

export const ADMIN_ROLE = 'vaultctl-admin';

export interface AppRoleCredential {
  readonly roleName: string;
  readonly roleId: string;
  readonly secretId: string;
}

/** An AppRole role with the admin policy and a secret_id, stored 0600. Reuses a stored one. */
export async function createAdminCredential(api: VaultNode, state: StateDir): Promise<AppRoleCredential> {
  const existing = state.readAdmin();
  if (existing) return existing;
  const auths = await api.auths();
  if (!auths['approle/']) await api.enableAuth('approle', 'approle');
  const rolePath = `auth/approle/role/${ADMIN_ROLE}`;
  await api.write(
    rolePath,
    { token_policies: ['admin'], token_ttl: '1h', token_max_ttl: '4h' },
    `writing the AppRole role ${ADMIN_ROLE}`,
  );
  const roleId = (await api.read<{ data: { role_id: string } }>(`${rolePath}/role-id`)).data.role_id;
  const sid = await api.write<{ data: { secret_id: string } }>(
    `${rolePath}/secret-id`,
    {},
    'creating the admin secret_id',
  );
  const cred = { roleName: ADMIN_ROLE, roleId, secretId: sid.data.secret_id };
  state.saveAdmin(cred);
  return cred;
}

export async function loginAppRole(
  api: VaultNode,
  cred: { roleId: string; secretId: string },
): Promise<string> {
  const res = await api.write<{ auth: { client_token: string } }>(
    'auth/approle/login',
    { role_id: cred.roleId, secret_id: cred.secretId },
    'logging in with the admin credential',
  );
  return res.auth.client_token;
}

/**
 * The token sources of a cluster vaultctl manages, in `resolveClusterToken`'s order: the
 * environment's token, a login with the stored admin AppRole credential (on the first node that
 * answers), the stored root token unless `init --revoke-root` revoked it. `nodes` is read when a
 * token is needed, so the sources can be made before the cluster they serve.
 */
export function managedTokenSources(
  state: StateDir,
  nodes: () => readonly { api(opts: { token: undefined }): VaultNode }[],
  envToken: string | undefined,
): TokenSources {
  return {
    envToken,
    adminLogin: async () => {
      const admin = state.readAdmin();
      if (!admin) return undefined;
      for (const n of nodes()) {
        try {
          return await loginAppRole(n.api({ token: undefined }), admin);
        } catch {
          // next node
        }
      }
      return undefined;
    },
    rootToken: () => (state.rootRevoked() ? undefined : state.readInit()?.rootToken),
  };
}

/** XORs the encoded token with the one-time password (the generate-root protocol). */
export function decodeRootToken(encoded: string, otp: string): string {
  const bytes = Buffer.from(encoded, 'base64');
  const pad = Buffer.from(otp);
  if (bytes.length !== pad.length) {
    throw new UsageError(
      'decoding the new root token',
      `encoded token and OTP differ in length (${bytes.length} vs ${pad.length})`,
      'run the command again: it cancels the unfinished attempt first',
    );
  }
  return Buffer.from(bytes.map((b, i) => b ^ pad[i]!)).toString('utf8');
}

/**
 * Generates a new root token from the stored key shares (recovery keys for auto-unseal seals,
 * unseal keys for Shamir). OpenBao serves the protocol at sys/generate-root-token and, by default,
 * only to an authenticated caller with sudo on it (the admin policy has it); Vault at
 * sys/generate-root. An attempt left over by an earlier run is cancelled first.
 */
export async function generateRootToken(
  api: VaultNode,
  keys: readonly string[],
  threshold: number,
): Promise<string> {
  type Status = {
    started?: boolean;
    nonce?: string;
    otp?: string;
    complete?: boolean;
    encoded_token?: string;
    encoded_root_token?: string;
  };
  const unwrap = (r: Status & { data?: Status }): Status => r.data ?? r;
  let base = '/sys/generate-root-token';
  let status: Status;
  try {
    status = unwrap(await api.call('GET', `${base}/attempt`, 'reading the generate-root status'));
  } catch (err) {
    if (!(err instanceof VaultRequestError && (err.status === 404 || err.status === 405))) throw err;
    base = '/sys/generate-root';
    status = unwrap(await api.call('GET', `${base}/attempt`, 'reading the generate-root status'));
  }
  if (status.started)
    await api.call('DELETE', `${base}/attempt`, 'cancelling an earlier generate-root attempt');
  const attempt = unwrap(await api.call('PUT', `${base}/attempt`, 'starting generate-root', {}));
  if (!attempt.nonce || !attempt.otp)
    throw new UsageError(
      'generating a root token',
      'the server returned no nonce/OTP',
      'run the command again: it cancels the unfinished attempt first',
    );
  let encoded: string | undefined;
  for (const key of keys.slice(0, threshold)) {
    const r = unwrap(
      await api.call('PUT', `${base}/update`, 'submitting a key share to generate-root', {
        key,
        nonce: attempt.nonce,
      }),
    );
    if (r.complete) encoded = r.encoded_token || r.encoded_root_token;
  }
  if (!encoded)
    throw new UsageError(
      'generating a root token',
      `the ${threshold} key shares did not complete the attempt`,
      "the key shares in init.json may not be this cluster's: check --state-dir",
    );
  return decodeRootToken(encoded, attempt.otp);
}
