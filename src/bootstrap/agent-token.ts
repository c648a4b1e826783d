/**
 * `ensureAgentToken`: the credential of `vaultctl agent`. A periodic orphan token from the token
 * role `vaultctl-agent` with the `vaultctl-agent` policy only (not even `default`): it reads raft
 * snapshots and autopilot state, and renews and looks up itself; nothing else. The agent renews it
 * on every run; it never uses the root token. Stored 0600 in the state dir (`agent/token`), never
 * printed, logged or put in an error.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { writeFileAtomic } from '../state/atomic.js';
import type { StateDir } from '../state/state-dir.js';
import type { VaultNode } from '../vault/port.js';
import { VaultRequestError } from '../vault/port.js';

export const AGENT_POLICY = 'vaultctl-agent';
export const AGENT_TOKEN_ROLE = 'vaultctl-agent';
/** 24 h: the agent renews it on every run and at least hourly; a dead agent's token expires in a day. */
export const AGENT_TOKEN_PERIOD_S = 24 * 3600;

export const AGENT_POLICY_HCL = `# vaultctl agent: scheduled snapshots, and its own token's upkeep. Nothing else.
path "sys/storage/raft/snapshot" {
  capabilities = ["read"]
}

path "sys/storage/raft/autopilot/state" {
  capabilities = ["read"]
}

path "auth/token/renew-self" {
  capabilities = ["update"]
}

path "auth/token/lookup-self" {
  capabilities = ["read"]
}
`;

export function agentTokenFile(state: StateDir): string {
  return join(state.root, 'agent', 'token');
}

export function readAgentToken(state: StateDir): string | undefined {
  const f = agentTokenFile(state);
  if (!existsSync(f)) return undefined;
  return readFileSync(f, 'utf8').trim() || undefined;
}

async function readOr404<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (err) {
    if (err instanceof VaultRequestError && [400, 403, 404].includes(err.status ?? 0)) return undefined;
    throw err;
  }
}

/**
 * Creates (or renews) the agent's token. @param leader a client of the active node with an
 * operator token (root or admin).
 */
export async function ensureAgentToken(
  leader: VaultNode,
  state: StateDir,
): Promise<{ changed: boolean; detail: string }> {
  let changed = false;
  if ((await leader.readPolicy(AGENT_POLICY))?.trim() !== AGENT_POLICY_HCL.trim()) {
    await leader.writePolicy(AGENT_POLICY, AGENT_POLICY_HCL);
    changed = true;
  }
  const rolePath = `auth/token/roles/${AGENT_TOKEN_ROLE}`;
  const role = (
    await readOr404(leader.read<{ data: { token_period?: number; allowed_policies?: string[] } }>(rolePath))
  )?.data;
  if (
    !role ||
    role.token_period !== AGENT_TOKEN_PERIOD_S ||
    role.allowed_policies?.join(',') !== AGENT_POLICY
  ) {
    await leader.write(
      rolePath,
      {
        allowed_policies: [AGENT_POLICY],
        orphan: true,
        renewable: true,
        token_period: AGENT_TOKEN_PERIOD_S,
        token_no_default_policy: true,
        token_type: 'service',
      },
      'writing the agent token role',
    );
    changed = true;
  }
  const file = agentTokenFile(state);
  const stored = readAgentToken(state);
  if (stored) {
    const info = await readOr404(
      leader.write<{ data: { policies?: string[]; role?: string } }>(
        'auth/token/lookup',
        { token: stored },
        'checking the stored agent token',
      ),
    );
    if (info?.data.role === AGENT_TOKEN_ROLE && info.data.policies?.includes(AGENT_POLICY)) {
      await leader.write('auth/token/renew', { token: stored }, 'renewing the agent token');
      return { changed, detail: `renewed, in ${file} (0600)` };
    }
  }
  const created = await leader.write<{ auth: { client_token: string } }>(
    `auth/token/create/${AGENT_TOKEN_ROLE}`,
    { display_name: 'vaultctl-agent', meta: { purpose: 'scheduled snapshots' } },
    'creating the agent token',
  );
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  writeFileAtomic(file, created.auth.client_token);
  return {
    changed: true,
    detail: `${stored ? 'replaced the stored token (revoked or expired)' : 'created'}: periodic orphan token, policy ${AGENT_POLICY} only, in ${file} (0600)`,
  };
}
