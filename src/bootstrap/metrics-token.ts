/**
 * `ensureMetricsToken`: the token Prometheus scrapes with. A periodic orphan token from the token
 * role `vaultctl-metrics`, with the `metrics` policy only (not even `default`): it reads
 * `sys/metrics` and nothing else, and outlives the token that created it.
 *
 * Observe, then act: a stored token that still works is renewed (a periodic token lives as long
 * as it is renewed within its period; every `vaultctl init` renews it), a missing or revoked one
 * is replaced. The token goes from the API response straight into a 0600 file; it is never
 * printed, logged or put in an error message.
 */

import type { StateDir } from '../state/state-dir.js';
import type { VaultNode } from '../vault/port.js';
import { VaultRequestError } from '../vault/port.js';

export const METRICS_POLICY = 'metrics';
export const METRICS_TOKEN_ROLE = 'vaultctl-metrics';
/** 32 days, OpenBao's default maximum TTL: run `vaultctl init` at least monthly to renew. */
export const METRICS_TOKEN_PERIOD_S = 768 * 3600;

export interface MetricsTokenResult {
  readonly changed: boolean;
  readonly detail: string;
}

interface TokenRole {
  readonly allowed_policies?: string[];
  readonly orphan?: boolean;
  readonly token_period?: number;
  readonly token_no_default_policy?: boolean;
  readonly renewable?: boolean;
}

const WANT_ROLE = {
  allowed_policies: [METRICS_POLICY],
  orphan: true,
  renewable: true,
  token_period: METRICS_TOKEN_PERIOD_S,
  token_no_default_policy: true,
  token_type: 'service',
};

async function readOr404<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (err) {
    if (err instanceof VaultRequestError && (err.status === 404 || err.status === 400 || err.status === 403))
      return undefined;
    throw err;
  }
}

/**
 * @param leader an API client of the active node, with an operator token (root or admin).
 */
export async function ensureMetricsToken(leader: VaultNode, state: StateDir): Promise<MetricsTokenResult> {
  let changed = false;
  const rolePath = `auth/token/roles/${METRICS_TOKEN_ROLE}`;
  const role = (await readOr404(leader.read<{ data: TokenRole }>(rolePath, 'reading the metrics token role')))
    ?.data;
  const roleOk =
    role &&
    role.allowed_policies?.join(',') === METRICS_POLICY &&
    role.orphan === true &&
    role.token_period === METRICS_TOKEN_PERIOD_S &&
    role.token_no_default_policy === true;
  if (!roleOk) {
    await leader.write(rolePath, WANT_ROLE, 'writing the metrics token role');
    changed = true;
  }

  const stored = state.readMetricsToken();
  if (stored) {
    // The token travels in the request body only; lookups of a revoked token answer 403/400.
    const info = await readOr404(
      leader.write<{ data: { policies?: string[]; role?: string } }>(
        'auth/token/lookup',
        { token: stored },
        'checking the stored metrics token',
      ),
    );
    const policies = info?.data.policies ?? [];
    // Lookups do not show the period; a token of our role carries the role's token_period.
    if (info && policies.includes(METRICS_POLICY) && info.data.role === METRICS_TOKEN_ROLE) {
      await leader.write('auth/token/renew', { token: stored }, 'renewing the metrics token');
      return {
        changed,
        detail: `renewed (periodic, ${METRICS_TOKEN_PERIOD_S / 3600}h), in ${state.metricsTokenFile} (0600)`,
      };
    }
  }
  const created = await leader.write<{ auth: { client_token: string } }>(
    `auth/token/create/${METRICS_TOKEN_ROLE}`,
    { display_name: 'prometheus', meta: { purpose: 'prometheus scrapes' } },
    'creating the metrics token',
  );
  state.saveMetricsToken(created.auth.client_token);
  return {
    changed: true,
    detail: `${stored ? 'replaced the stored token (revoked or expired)' : 'created'}: periodic orphan token, policy ${METRICS_POLICY} only, in ${state.metricsTokenFile} (0600)`,
  };
}
