/** The seed's credential paths: `tenants/{tenant_id}/exchanges/{exchange}/{credential_type}`. */
import { VaultInvalidInputError } from './errors.js';

export type CredentialType = 'readonly' | 'trading';

export interface ExchangeCredential {
  readonly api_key: string;
  readonly secret: string;
  readonly passphrase?: string;
  readonly metadata?: {
    readonly exchange: string;
    readonly credential_type: CredentialType;
    readonly created_at: string;
    readonly created_by?: string;
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const SAFE = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const CREDENTIAL = /^tenants\/([^/]+)\/exchanges\/([^/]+)\/(readonly|trading)$/;

/** `tenants/{tenant_id}/exchanges/{exchange}/{credential_type}`, validated before any request. */
export function credentialPath(tenantId: string, exchange: string, type: CredentialType): string {
  if (!UUID.test(tenantId))
    throw new VaultInvalidInputError(`tenant id "${tenantId}" is not a lowercase UUID`);
  if (!SAFE.test(exchange))
    throw new VaultInvalidInputError(`exchange "${exchange}" must be lowercase letters, digits, "-" or "_"`);
  if (type !== 'readonly' && type !== 'trading')
    throw new VaultInvalidInputError(`credential type "${type}" must be readonly or trading`);
  return `tenants/${tenantId}/exchanges/${exchange}/${type}`;
}

/** The parts of a valid credential path; undefined for any other path. */
export function parseCredentialPath(
  path: string,
): { tenantId: string; exchange: string; type: CredentialType } | undefined {
  const m = CREDENTIAL.exec(path);
  if (!m || !UUID.test(m[1]!) || !SAFE.test(m[2]!)) return undefined;
  return { tenantId: m[1]!, exchange: m[2]!, type: m[3] as CredentialType };
}
