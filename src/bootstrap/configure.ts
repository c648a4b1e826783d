/**
 * The configuration steps of a bootstrap, on the active node: autopilot, the audit device, KV v2,
 * the policies, the metrics token and the AppRole role. Each reads what is there and changes only
 * what differs from the spec.
 */
import type { NodeHandle } from '../cluster/running.js';
import { RemoteError, UsageError } from '../errors.js';
import { nodePaths } from '../templates/hcl.js';
import { renderPolicies } from '../templates/policies.js';
import type { AutopilotConfig, VaultNode } from '../vault/port.js';
import { VaultRequestError } from '../vault/port.js';
import { ensureAgentToken } from './agent-token.js';
import { type BootstrapContext, durationMs } from './bootstrap-context.js';
import { ensureMetricsToken } from './metrics-token.js';

/**
 * The autopilot stabilisation time while a cluster initialised in this very run gets its first
 * voters: nothing is stored in it yet, so waiting the spec's time (10 s by default) before autopilot
 * promotes a freshly joined, unsealed follower protects nothing. The spec's value is set back as
 * soon as every node is a voter (and by the next `init` if this one is interrupted before).
 */
export const BOOTSTRAP_STABILIZATION = '2s';

/** Whether this run lowers the stabilisation time while the followers join (see BOOTSTRAP_STABILIZATION). */
export function bootstrapStabilization(ctx: BootstrapContext): string | undefined {
  const specMs = durationMs(ctx.spec.raft.autopilot.serverStabilizationTime);
  return ctx.initialisedNow && specMs > durationMs(BOOTSTRAP_STABILIZATION)
    ? BOOTSTRAP_STABILIZATION
    : undefined;
}

/**
 * Autopilot before the followers join, so its stabilisation time applies to them; `stabilization`
 * overrides the spec's for the bootstrap of a new cluster.
 */
export async function configureAutopilot(
  ctx: BootstrapContext,
  leaderNode: NodeHandle,
  stabilization?: string,
): Promise<void> {
  const leader = ctx.api(leaderNode);
  const ap = ctx.spec.raft.autopilot;
  const want: AutopilotConfig = {
    cleanup_dead_servers: ap.cleanupDeadServers,
    dead_server_last_contact_threshold: ap.deadServerLastContactThreshold,
    last_contact_threshold: ap.lastContactThreshold,
    server_stabilization_time: stabilization ?? ap.serverStabilizationTime,
    min_quorum: ap.minQuorum,
  };
  const have = await ctx.poll('the autopilot configuration', () => leader.autopilotConfig(), 30_000);
  const differs = (Object.keys(want) as (keyof AutopilotConfig)[]).some(
    (k) => normaliseDuration(have[k]) !== normaliseDuration(want[k]),
  );
  if (!differs) {
    ctx.record('configure autopilot', false);
    return;
  }
  await leader.setAutopilotConfig(want);
  ctx.record(
    'configure autopilot',
    true,
    `dead-server cleanup ${want.cleanup_dead_servers ? 'on' : 'off'}, min quorum ${want.min_quorum}` +
      (stabilization ? `, stabilisation ${stabilization} while the followers join` : ''),
  );
}

/** Audit device, KV v2, policies, metrics token and AppRole, in that order. */
export async function configureCluster(ctx: BootstrapContext, leaderNode: NodeHandle): Promise<void> {
  await ensureAudit(ctx, leaderNode);
  await ensureKv(ctx, leaderNode);
  await ensurePolicies(ctx, leaderNode);
  // The token Prometheus scrapes with (not needed when metrics are unauthenticated).
  if (!ctx.spec.telemetry.unauthenticatedMetricsAccess) {
    const m = await ensureMetricsToken(ctx.api(leaderNode), ctx.state);
    ctx.record('metrics token', m.changed, m.detail);
  }
  await ensureAppRole(ctx, leaderNode);
  // The credential of `vaultctl agent` (scheduled backups), only for a spec that has backups.
  if (ctx.spec.backup) {
    const a = await ensureAgentToken(ctx.api(leaderNode), ctx.state);
    ctx.record('agent token', a.changed, a.detail);
  }
  ctx.mark('configured');
}

/** Declared in the HCL on OpenBao (checked here); enabled over the API on Vault. */
async function ensureAudit(ctx: BootstrapContext, leaderNode: NodeHandle): Promise<void> {
  const { spec } = ctx;
  if (!spec.audit.enabled) return;
  const leader = ctx.api(leaderNode);
  const audits = await leader.audits();
  const present = Object.values(audits).some((a) => a?.type === 'file');
  const filePath = `${nodePaths(spec.flavor).logs}/${spec.audit.file}`;
  if (present) {
    ctx.record('audit device', false, filePath);
  } else if (spec.flavor === 'vault') {
    await leader.enableAudit('file', 'file', { file_path: filePath });
    ctx.record('audit device', true, filePath);
  } else {
    throw new RemoteError(
      'checking the audit device',
      `the HCL declares audit "file" but ${leaderNode.name} lists no file audit device`,
      'check the node log (`docker logs`) for audit errors; run `vaultctl up` to re-render the configuration',
    );
  }
}

async function ensureKv(ctx: BootstrapContext, leaderNode: NodeHandle): Promise<void> {
  const leader = ctx.api(leaderNode);
  const mounts = await leader.mounts();
  const kvPath = `${ctx.spec.kv.path}/`;
  const kv = mounts[kvPath];
  if (!kv) {
    await leader.mount(ctx.spec.kv.path, 'kv', { version: '2' });
    ctx.record('KV v2', true, kvPath);
  } else if (kv.type !== 'kv' || kv.options?.version !== '2') {
    throw new UsageError(
      `enabling KV v2 at ${kvPath}`,
      `${kvPath} is already mounted as ${kv.type}${kv.options?.version ? ` v${kv.options.version}` : ''}`,
      `vaultctl does not convert an engine silently; upgrade it yourself (bao kv enable-versioning ${kvPath}) or choose another kv.path`,
    );
  } else {
    ctx.record('KV v2', false, kvPath);
  }
}

async function ensurePolicies(ctx: BootstrapContext, leaderNode: NodeHandle): Promise<void> {
  const leader = ctx.api(leaderNode);
  const policies = renderPolicies(ctx.spec);
  const changed: string[] = [];
  for (const p of policies) {
    const have = await leader.readPolicy(p.name);
    if (have?.trim() === p.hcl.trim()) continue;
    await leader.writePolicy(p.name, p.hcl);
    changed.push(p.name);
  }
  ctx.record('policies', changed.length > 0, policies.map((p) => p.name).join(', '));
}

/** The application's AppRole role (policy app-read) and a working credential in the state dir. */
async function ensureAppRole(ctx: BootstrapContext, leaderNode: NodeHandle): Promise<void> {
  const { spec, state } = ctx;
  if (!spec.appRole.enabled) return;
  const leader = ctx.api(leaderNode);
  const auths = await leader.auths();
  let changed = false;
  if (!auths['approle/']) {
    await leader.enableAuth('approle', 'approle');
    changed = true;
  }
  const rolePath = `auth/approle/role/${spec.appRole.roleName}`;
  const wantRole = {
    token_policies: ['app-read'],
    token_ttl: spec.appRole.tokenTtl,
    token_max_ttl: spec.appRole.tokenMaxTtl,
  };
  const haveRole = await leader
    .read<{ data: { token_policies: string[]; token_ttl: number; token_max_ttl: number } }>(rolePath)
    .catch((err) => {
      if (err instanceof VaultRequestError && err.status === 404) return undefined;
      throw err;
    });
  const sameRole =
    haveRole &&
    haveRole.data.token_policies.join(',') === 'app-read' &&
    haveRole.data.token_ttl === durationMs(spec.appRole.tokenTtl) / 1000 &&
    haveRole.data.token_max_ttl === durationMs(spec.appRole.tokenMaxTtl) / 1000;
  if (!sameRole) {
    await leader.write(rolePath, wantRole, `writing AppRole role ${spec.appRole.roleName}`);
    changed = true;
  }
  const roleId = (await leader.read<{ data: { role_id: string } }>(`${rolePath}/role-id`)).data.role_id;
  const stored = state.readAppRole();
  if (
    !stored ||
    stored.roleId !== roleId ||
    stored.roleName !== spec.appRole.roleName ||
    !(await canLogin(leader, stored))
  ) {
    const sid = await leader.write<{ data: { secret_id: string } }>(
      `${rolePath}/secret-id`,
      {},
      'creating an AppRole secret_id',
    );
    state.saveAppRole({ roleName: spec.appRole.roleName, roleId, secretId: sid.data.secret_id });
    changed = true;
  }
  ctx.record(
    'AppRole',
    changed,
    `role ${spec.appRole.roleName} (policy app-read), credential in ${state.appRoleFile} (0600)`,
  );
}

async function canLogin(leader: VaultNode, cred: { roleId: string; secretId: string }): Promise<boolean> {
  try {
    await leader.call('POST', '/auth/approle/login', 'checking the stored AppRole credential', {
      role_id: cred.roleId,
      secret_id: cred.secretId,
    });
    return true;
  } catch (err) {
    if (err instanceof VaultRequestError && (err.status === 400 || err.status === 403)) return false;
    throw err;
  }
}

/** "10s" / "24h0m0s" / 10 -> a comparable number of milliseconds (other values pass through). */
function normaliseDuration(v: unknown): unknown {
  if (typeof v !== 'string') return v;
  const ms = durationMs(v);
  return Number.isNaN(ms) ? v : ms;
}
