/**
 * The last, optional step of a bootstrap (`init --revoke-root`): operators work with an admin
 * credential instead of the root token. The credential is checked before the root token goes.
 */
import type { NodeHandle } from '../cluster/running.js';
import { UsageError } from '../errors.js';
import { createAdminCredential, loginAppRole } from './admin.js';
import type { BootstrapContext } from './bootstrap-context.js';

export async function revokeRootToken(ctx: BootstrapContext, leaderNode: NodeHandle): Promise<void> {
  const { state, material } = ctx;
  if (state.rootRevoked()) {
    ctx.record('revoke the root token', false);
    return;
  }
  const leader = ctx.api(leaderNode);
  const cred = await createAdminCredential(leader, state);
  const adminToken = await loginAppRole(leader, cred);
  const check = leaderNode.api({ token: adminToken });
  await check.readPolicy('admin');
  await check.raftServers();
  if (!material?.rootToken)
    throw new UsageError(
      'revoking the root token',
      `no root token in ${state.initFile}`,
      "it was revoked already, or the state dir is not this cluster's: check --state-dir",
    );
  await leaderNode
    .api({ token: material.rootToken })
    .write('auth/token/revoke-self', {}, 'revoking the root token');
  state.markRootRevoked();
  ctx.record(
    'revoke the root token',
    true,
    `admin credential in ${state.adminFile} (0600, policy admin); \`vaultctl root-token\` makes a new root token from the key shares`,
  );
}
