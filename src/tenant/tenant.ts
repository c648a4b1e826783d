/**
 * Tenants: an identity entity carrying `tenant_id` metadata, an AppRole role whose logins map to
 * that entity (entity alias = the role_id), and the `tenant-access` policy, whose templated paths
 * let a tenant reach only `<kv>/data/tenants/<its id>/...`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../errors.js';
import type { ClusterSpec } from '../spec/schema.js';
import type { StateDir } from '../state/state-dir.js';
import type { VaultNode } from '../vault/port.js';
import { VaultRequestError } from '../vault/port.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Refuses an id before any request: OpenBao >= 2.6 silently drops identity-template values that
 * contain "/", "+" or "*", which would leave the tenant with no access (or, worse, match others).
 */
export function validateTenantId(id: string): string {
  const doing = `checking the tenant id "${id}"`;
  const bad = [...new Set(id.match(/[/+*]/g) ?? [])];
  if (bad.length > 0) {
    throw new UsageError(
      doing,
      `it contains ${bad.map((c) => `"${c}"`).join(', ')}, which policy templates cannot carry (OpenBao drops such values)`,
      'tenant ids are UUIDs, e.g. 00000000-0000-0000-0000-000000000001',
    );
  }
  const lower = id.toLowerCase();
  if (!UUID.test(lower))
    throw new UsageError(
      doing,
      'not a UUID',
      'tenant ids are UUIDs, e.g. 00000000-0000-0000-0000-000000000001',
    );
  return lower;
}

export interface TenantCredential {
  readonly tenantId: string;
  readonly roleName: string;
  readonly roleId: string;
  readonly secretId: string;
}

export interface TenantInfo {
  readonly tenantId: string;
  readonly entityId: string;
  readonly roleName: string;
  readonly roleId?: string;
  readonly credentialFile?: string;
}

export function tenantRoleName(id: string): string {
  return `tenant-${id}`;
}

export function tenantCredentialFile(state: StateDir, id: string): string {
  return join(state.root, 'tenants', `${id}.json`);
}

async function approleAccessor(api: VaultNode): Promise<string> {
  const auths = await api.auths();
  const approle = auths['approle/'] as { accessor?: string } | undefined;
  if (!approle?.accessor) {
    throw new UsageError(
      'creating a tenant',
      'the AppRole auth method is not enabled',
      'run `vaultctl init` (appRole.enabled: true) first',
    );
  }
  return approle.accessor;
}

async function readEntity(
  api: VaultNode,
  name: string,
): Promise<{ id: string; metadata: Record<string, string> } | undefined> {
  try {
    const r = await api.read<{ data: { id: string; metadata: Record<string, string> | null } }>(
      `identity/entity/name/${name}`,
    );
    return { id: r.data.id, metadata: r.data.metadata ?? {} };
  } catch (err) {
    if (err instanceof VaultRequestError && err.status === 404) return undefined;
    throw err;
  }
}

/** Creates (or completes) a tenant. Idempotent: an existing credential that still logs in is kept. */
export async function createTenant(
  api: VaultNode,
  spec: ClusterSpec,
  state: StateDir,
  rawId: string,
): Promise<{ credential: TenantCredential; created: boolean; file: string }> {
  const id = validateTenantId(rawId);
  const roleName = tenantRoleName(id);
  const accessor = await approleAccessor(api);

  await api.write(
    `auth/approle/role/${roleName}`,
    {
      token_policies: ['tenant-access'],
      token_ttl: spec.appRole.tokenTtl,
      token_max_ttl: spec.appRole.tokenMaxTtl,
    },
    `writing the AppRole role ${roleName}`,
  );
  const roleId = (await api.read<{ data: { role_id: string } }>(`auth/approle/role/${roleName}/role-id`)).data
    .role_id;

  await api.write(
    `identity/entity/name/${roleName}`,
    { metadata: { tenant_id: id }, policies: [] },
    `writing the entity ${roleName}`,
  );
  const entity = await readEntity(api, roleName);
  if (!entity)
    throw new UsageError(
      `creating tenant ${id}`,
      'the entity was not created',
      'vaultctl health says whether the cluster takes writes; then create the tenant again',
    );

  // AppRole logins carry the role_id as alias name: this alias ties them to the tenant's entity.
  try {
    await api.write(
      'identity/entity-alias',
      { name: roleId, canonical_id: entity.id, mount_accessor: accessor },
      'creating the entity alias',
    );
  } catch (err) {
    if (
      !(
        err instanceof VaultRequestError &&
        err.status === 400 &&
        /already|in use/i.test(err.errors.join(' '))
      )
    )
      throw err;
    // The alias exists: make sure it points at this tenant's entity (a login before the alias
    // existed would have made an entity of its own, without tenant_id).
    const owner = await api.write<{
      data: { id: string; aliases: { id: string; name: string; mount_accessor: string }[] };
    }>(
      'identity/lookup/entity',
      { alias_name: roleId, alias_mount_accessor: accessor },
      'looking up the entity alias',
    );
    if (owner?.data && owner.data.id !== entity.id) {
      const alias = owner.data.aliases.find((a) => a.name === roleId && a.mount_accessor === accessor);
      if (alias) {
        await api.write(
          `identity/entity-alias/id/${alias.id}`,
          { name: roleId, canonical_id: entity.id, mount_accessor: accessor },
          'moving the entity alias',
        );
      }
    }
  }

  const file = tenantCredentialFile(state, id);
  const existing = readCredential(file);
  if (existing && existing.roleId === roleId && (await canLogin(api, existing))) {
    return { credential: existing, created: false, file };
  }
  const sid = await api.write<{ data: { secret_id: string } }>(
    `auth/approle/role/${roleName}/secret-id`,
    {},
    'creating a secret_id',
  );
  const credential: TenantCredential = { tenantId: id, roleName, roleId, secretId: sid.data.secret_id };
  state.writeFileAtomic(file, `${JSON.stringify(credential, null, 2)}\n`);
  return { credential, created: true, file };
}

function readCredential(file: string): TenantCredential | undefined {
  if (!existsSync(file)) return undefined;
  return JSON.parse(readFileSync(file, 'utf8')) as TenantCredential;
}

async function canLogin(api: VaultNode, c: { roleId: string; secretId: string }): Promise<boolean> {
  try {
    await api.write(
      'auth/approle/login',
      { role_id: c.roleId, secret_id: c.secretId },
      'checking a stored tenant credential',
    );
    return true;
  } catch (err) {
    if (err instanceof VaultRequestError && (err.status === 400 || err.status === 403)) return false;
    throw err;
  }
}

export async function listTenants(api: VaultNode, state: StateDir): Promise<TenantInfo[]> {
  let names: string[] = [];
  try {
    names = (
      await api.call<{ data: { keys: string[] } }>('LIST', '/identity/entity/name', 'listing entities')
    ).data.keys;
  } catch (err) {
    if (!(err instanceof VaultRequestError && err.status === 404)) throw err;
  }
  const out: TenantInfo[] = [];
  for (const name of names.filter((n) => n.startsWith('tenant-')).sort()) {
    const e = await readEntity(api, name);
    if (!e?.metadata.tenant_id) continue;
    const file = tenantCredentialFile(state, e.metadata.tenant_id);
    const cred = readCredential(file);
    out.push({
      tenantId: e.metadata.tenant_id,
      entityId: e.id,
      roleName: name,
      ...(cred ? { roleId: cred.roleId, credentialFile: file } : {}),
    });
  }
  return out;
}

/** Removes the tenant's role, entity (and alias) and stored credential. Its secrets are kept. */
export async function deleteTenant(
  api: VaultNode,
  state: StateDir,
  rawId: string,
): Promise<{ existed: boolean }> {
  const id = validateTenantId(rawId);
  const roleName = tenantRoleName(id);
  const entity = await readEntity(api, roleName);
  await api.call('DELETE', `/auth/approle/role/${roleName}`, `deleting the AppRole role ${roleName}`);
  if (entity)
    await api.call('DELETE', `/identity/entity/name/${roleName}`, `deleting the entity ${roleName}`);
  state.removeFile(tenantCredentialFile(state, id));
  return { existed: Boolean(entity) };
}
