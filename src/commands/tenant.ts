import type { Command } from 'commander';
import { table } from '../output/format.js';
import { createTenant, deleteTenant, listTenants, validateTenantId } from '../tenant/tenant.js';
import type { CommandDeps, GlobalOptions } from './command-deps.js';
import { confirm, openManagedCluster, output } from './command-deps.js';
import { action } from './flags.js';

export async function runCreate(
  global: GlobalOptions,
  id: string,
  opts: { showSecrets?: boolean },
  deps: CommandDeps,
): Promise<number> {
  // The id is checked before anything else: no request for a bad id ever reaches the server.
  const tenantId = validateTenantId(id);
  const loaded = openManagedCluster(global, {}, deps, `creating tenant ${tenantId}`);
  const { state } = loaded;
  const spec = loaded.spec;
  const api = await loaded.cluster.serving(`creating tenant ${tenantId}`);
  const res = await createTenant(api, spec, state, tenantId);
  const c = res.credential;
  output(global, deps)(
    {
      tenantId: c.tenantId,
      roleName: c.roleName,
      roleId: c.roleId,
      credentialFile: res.file,
      created: res.created,
      ...(opts.showSecrets ? { secretId: c.secretId } : {}),
    },
    () => {
      const lines: string[] = [];
      lines.push(
        `Tenant ${c.tenantId} ${res.created ? 'created' : 'already exists'}: AppRole role ${c.roleName}, policy tenant-access.`,
      );
      lines.push(`role_id:   ${c.roleId}`);
      lines.push(
        opts.showSecrets
          ? `secret_id: ${c.secretId}`
          : `secret_id: in ${res.file} (0600); --show-secrets prints it`,
      );
      return lines;
    },
  );
  return 0;
}

export async function runList(global: GlobalOptions, deps: CommandDeps): Promise<number> {
  const loaded = openManagedCluster(global, {}, deps, 'listing tenants');
  const { state } = loaded;
  const api = await loaded.cluster.serving('listing tenants');
  const tenants = await listTenants(api, state);
  output(global, deps)(tenants, () => {
    const lines: string[] = [];
    if (tenants.length === 0) lines.push('No tenants. Create one: vaultctl tenant create <tenant-uuid>');
    else
      lines.push(
        table(
          ['TENANT', 'ROLE', 'ROLE_ID', 'CREDENTIAL'],
          tenants.map((t) => [t.tenantId, t.roleName, t.roleId ?? '-', t.credentialFile ?? '-']),
        ),
      );
    return lines;
  });
  return 0;
}

export async function runDelete(
  global: GlobalOptions,
  id: string,
  opts: { yes?: boolean },
  deps: CommandDeps,
): Promise<number> {
  const tenantId = validateTenantId(id);
  const loaded = openManagedCluster(global, {}, deps, `deleting tenant ${tenantId}`);
  const { state } = loaded;
  await confirm(
    deps,
    `Delete tenant ${tenantId} (its role, entity and credential; its secrets stay)?`,
    opts.yes,
    `deleting tenant ${tenantId}`,
  );
  const api = await loaded.cluster.serving(`deleting tenant ${tenantId}`);
  const res = await deleteTenant(api, state, tenantId);
  deps.out(
    res.existed
      ? `Tenant ${tenantId} deleted (its secrets under tenants/${tenantId}/ are kept).`
      : `Tenant ${tenantId} did not exist.`,
  );
  return 0;
}

export function register(program: Command, deps: CommandDeps): void {
  const tenant = program
    .command('tenant')
    .summary('tenant identities: entity + AppRole + tenant-access policy')
    .description(
      'Each tenant reaches only secret/data/tenants/<its id>/..., through the templated tenant-access policy.',
    );
  tenant
    .command('create <tenant-uuid>')
    .summary('create a tenant; prints its role_id, stores its secret_id (0600)')
    .description(
      'Creates an identity entity with metadata tenant_id, an AppRole role bound to it through an entity alias, and the ' +
        'tenant-access policy. Ids containing "/", "+" or "*" are refused before any request.\n\n' +
        'Example:\n  $ vaultctl tenant create 00000000-0000-0000-0000-000000000001',
    )
    .option('--show-secrets', 'print the secret_id too')
    .action(
      action(deps.setExitCode, (global, id: string, opts: { showSecrets?: boolean }) =>
        runCreate(global, id, opts, deps),
      ),
    );
  tenant
    .command('list')
    .summary('list tenants')
    .description('Example:\n  $ vaultctl tenant list --format json')
    .action(action(deps.setExitCode, (global, _opts: unknown) => runList(global, deps)));
  tenant
    .command('delete <tenant-uuid>')
    .summary("delete a tenant's role, entity and credential (its secrets stay)")
    .description('Example:\n  $ vaultctl tenant delete 00000000-0000-0000-0000-000000000001 --yes')
    .option('-y, --yes', 'do not ask for confirmation')
    .action(
      action(deps.setExitCode, (global, id: string, opts: { yes?: boolean }) =>
        runDelete(global, id, opts, deps),
      ),
    );
}
