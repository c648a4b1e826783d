import type { Command } from 'commander';
import { json, table } from '../output/format.js';
import { createTenant, deleteTenant, listTenants, validateTenantId } from '../tenant/tenant.js';
import type { CommandDeps, GlobalOptions } from './context.js';
import { confirm, openManagedCluster } from './context.js';

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
  if (global.format === 'json') {
    deps.out(
      json({
        tenantId: c.tenantId,
        roleName: c.roleName,
        roleId: c.roleId,
        credentialFile: res.file,
        created: res.created,
        ...(opts.showSecrets ? { secretId: c.secretId } : {}),
      }),
    );
    return 0;
  }
  deps.out(
    `Tenant ${c.tenantId} ${res.created ? 'created' : 'already exists'}: AppRole role ${c.roleName}, policy tenant-access.`,
  );
  deps.out(`role_id:   ${c.roleId}`);
  deps.out(
    opts.showSecrets
      ? `secret_id: ${c.secretId}`
      : `secret_id: in ${res.file} (0600); --show-secrets prints it`,
  );
  return 0;
}

export async function runList(global: GlobalOptions, deps: CommandDeps): Promise<number> {
  const loaded = openManagedCluster(global, {}, deps, 'listing tenants');
  const { state } = loaded;
  const api = await loaded.cluster.serving('listing tenants');
  const tenants = await listTenants(api, state);
  if (global.format === 'json') deps.out(json(tenants));
  else if (tenants.length === 0) deps.out('No tenants. Create one: vaultctl tenant create <tenant-uuid>');
  else
    deps.out(
      table(
        ['TENANT', 'ROLE', 'ROLE_ID', 'CREDENTIAL'],
        tenants.map((t) => [t.tenantId, t.roleName, t.roleId ?? '-', t.credentialFile ?? '-']),
      ),
    );
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
    .action(async (id: string, opts: { showSecrets?: boolean }, c: Command) => {
      deps.setExitCode(await runCreate(c.optsWithGlobals() as GlobalOptions, id, opts, deps));
    });
  tenant
    .command('list')
    .summary('list tenants')
    .description('Example:\n  $ vaultctl tenant list --format json')
    .action(async (_opts: unknown, c: Command) => {
      deps.setExitCode(await runList(c.optsWithGlobals() as GlobalOptions, deps));
    });
  tenant
    .command('delete <tenant-uuid>')
    .summary("delete a tenant's role, entity and credential (its secrets stay)")
    .description('Example:\n  $ vaultctl tenant delete 00000000-0000-0000-0000-000000000001 --yes')
    .option('-y, --yes', 'do not ask for confirmation')
    .action(async (id: string, opts: { yes?: boolean }, c: Command) => {
      deps.setExitCode(await runDelete(c.optsWithGlobals() as GlobalOptions, id, opts, deps));
    });
}
