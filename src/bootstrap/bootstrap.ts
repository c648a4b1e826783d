/**
 * `bootstrapCluster`: init, unseal, join, autopilot, audit, KV v2, policies, AppRole.
 *
 * Every step observes before it acts, so the whole use case is idempotent and resumable: run it
 * again after an interruption at any point and it finishes the job. Key material is written to the
 * state dir (0600) the moment the first node returns it, before anything else happens.
 */

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Progress } from '../cluster/events.js';
import type { Clock } from '../cluster/poll.js';
import { pollUntil, systemClock } from '../cluster/poll.js';
import { RemoteError, UsageError } from '../errors.js';
import { apiScheme, nodeAddress } from '../spec/names.js';
import type { ClusterSpec, NodeSpec } from '../spec/schema.js';
import { AUTO_SEALS, CONTAINER_API_PORT } from '../spec/schema.js';
import type { InitMaterial, StateDir } from '../state/state-dir.js';
import { nodePaths } from '../templates/hcl.js';
import { renderPolicies } from '../templates/policies.js';
import { tlsPaths } from '../tls/tls.js';
import { connectVaultNode } from '../vault/api.js';
import type { AutopilotConfig, InitRequest, SealStatus, VaultNode, VaultTls } from '../vault/port.js';
import { VaultRequestError } from '../vault/port.js';
import { createAdminCredential, loginAppRole } from './admin.js';
import { ensureMetricsToken } from './metrics-token.js';
import { unsealWithShares } from './unseal.js';

export interface BootstrapDeps {
  readonly progress: Progress;
  readonly signal?: AbortSignal | undefined;
  readonly clock?: Clock;
  /**
   * Resolves the token for an already initialised cluster (BAO_TOKEN/VAULT_TOKEN, the admin
   * credential); undefined falls back to the stored root token unless it was revoked.
   */
  readonly token?: () => Promise<string | undefined>;
  /** CA (and client certificate) for TLS clusters. */
  readonly tls?: VaultTls | undefined;
  /** Last log lines of a node, attached to timeout errors. */
  readonly nodeLogs?: (node: NodeSpec) => Promise<string>;
}

export interface BootstrapOptions {
  /** Budget for each wait (nodes answering, unseal, join, voters). */
  readonly timeoutMs?: number;
  /** PGP public keys (base64), one per share: the stored shares are then encrypted to them. */
  readonly pgpKeys?: readonly string[];
  /** Create an admin credential, check it, then revoke the root token. */
  readonly revokeRoot?: boolean;
}

export interface StepRecord {
  readonly step: string;
  readonly changed: boolean;
  readonly detail?: string;
}

export interface BootstrapResult {
  readonly initialisedNow: boolean;
  readonly leader: string;
  readonly voters: readonly string[];
  readonly steps: readonly StepRecord[];
  /** Milliseconds from the start of the run to the end of each phase. */
  readonly timings: Readonly<Record<string, number>>;
}

export async function bootstrapCluster(
  spec: ClusterSpec,
  state: StateDir,
  deps: BootstrapDeps,
  opts: BootstrapOptions = {},
): Promise<BootstrapResult> {
  const clock = deps.clock ?? systemClock;
  const t0 = clock.now();
  const timings: Record<string, number> = {};
  const mark = (phase: string) => {
    timings[phase] = Math.round(clock.now() - t0);
  };
  const timeoutMs = opts.timeoutMs ?? 90_000;
  const { progress } = deps;
  const steps: StepRecord[] = [];
  /** `waited`: a wait, not a change; reported as done without "(already done)". */
  const record = (step: string, changed: boolean | 'waited', detail?: string) => {
    const c = changed === true;
    steps.push(detail ? { step, changed: c, detail } : { step, changed: c });
    progress.done(`${step}${changed === false ? ' (already done)' : ''}${detail ? `: ${detail}` : ''}`);
  };
  const apis = new Map(
    spec.nodes.map((n) => [n.name, connectVaultNode({ address: nodeAddress(spec, n), tls: deps.tls })]),
  );
  const api = (n: NodeSpec) => apis.get(n.name)!;
  const poll = <T>(what: string, check: () => Promise<T | undefined>, ms = timeoutMs) =>
    pollUntil(check, { what, timeoutMs: ms, intervalMs: 250, signal: deps.signal, clock });
  const withLogs = async <T>(node: NodeSpec, p: Promise<T>): Promise<T> => {
    try {
      return await p;
    } catch (err) {
      if (err instanceof Error && err.name === 'PollTimeoutError') {
        const logs = deps.nodeLogs ? await deps.nodeLogs(node).catch(() => '') : '';
        throw new RemoteError(
          `bootstrapping ${node.name}`,
          logs ? `${err.message}\n--- last lines of ${node.name} ---\n${logs.trimEnd()}` : err.message,
          'run `vaultctl health` to see every node; `vaultctl init` resumes where it stopped',
        );
      }
      throw err;
    }
  };

  // 1. Every node must answer before anything changes.
  progress.step('waiting for every node to answer');
  const statuses = new Map<string, SealStatus>();
  for (const n of spec.nodes) {
    try {
      statuses.set(
        n.name,
        await poll(`${n.name} to answer`, () => api(n).sealStatus(), Math.min(timeoutMs, 30_000)),
      );
    } catch (err) {
      // An untrusted certificate says more than "does not answer": keep its own message and hint.
      if (err instanceof VaultRequestError && err.kind === 'tls') throw err;
      throw new RemoteError(
        `initialising cluster ${spec.name}`,
        `node ${n.name} does not answer at ${api(n).address}: ${(err as Error).message}`,
        'start the cluster first (`vaultctl up`); `vaultctl health` shows which nodes are down. Nothing was changed.',
      );
    }
  }
  mark('nodesAnswering');

  // 2. Init the first node (or find the node that already is).
  const first = spec.nodes.find((n) => statuses.get(n.name)?.initialized) ?? spec.nodes[0]!;
  let material = state.readInit();
  let initialisedNow = false;
  const auto = AUTO_SEALS.includes(spec.seal.type);
  if (!statuses.get(first.name)?.initialized) {
    if (material) {
      throw new UsageError(
        `initialising cluster ${spec.name}`,
        `no node is initialised, but ${state.initFile} holds the keys of an earlier cluster (created ${material.createdAt})`,
        `vaultctl never overwrites key material. If that cluster is gone for good, move the file away (it is the only copy of its keys) and run init again`,
      );
    }
    state.ensure();
    progress.step(`initialising ${first.name}`);
    const shares = spec.seal.shares;
    const threshold = spec.seal.threshold;
    const pgp = opts.pgpKeys && opts.pgpKeys.length > 0 ? [...opts.pgpKeys] : undefined;
    const req: InitRequest = auto
      ? { recovery_shares: shares, recovery_threshold: threshold, ...(pgp ? { recovery_pgp_keys: pgp } : {}) }
      : { secret_shares: shares, secret_threshold: threshold, ...(pgp ? { pgp_keys: pgp } : {}) };
    const res = await api(first).init(req);
    material = {
      version: 1,
      createdAt: new Date().toISOString(),
      cluster: spec.name,
      sealType: spec.seal.type,
      keyKind: auto ? 'recovery' : 'unseal',
      shares,
      threshold,
      keys: (auto ? res.recovery_keys_base64 : res.keys_base64) ?? [],
      pgp: Boolean(pgp),
      rootToken: res.root_token,
    };
    state.saveInit(material);
    initialisedNow = true;
    record(
      `initialise ${first.name}`,
      true,
      `${shares} ${material.keyKind} key shares, threshold ${threshold}, stored in ${state.initFile} (0600)`,
    );
  } else {
    record(`initialise ${first.name}`, false);
  }
  mark('firstInitialised');

  // 3. Unseal the first node (Shamir) or wait for it to unseal itself.
  const unsealWithKeys = async (n: NodeSpec): Promise<void> => {
    if (!material || material.keys.length === 0) {
      throw new UsageError(
        `unsealing ${n.name}`,
        'no unseal keys in the state dir',
        'type them in: `vaultctl unseal --prompt`',
      );
    }
    if (material.pgp) {
      throw new UsageError(
        `unsealing ${n.name}`,
        'the stored key shares are PGP-encrypted; vaultctl cannot use them',
        'decrypt your shares and type them in: `vaultctl unseal --prompt`',
      );
    }
    const keys = material.keys;
    await unsealWithShares(api(n), async () => keys, {
      name: n.name,
      threshold: material.threshold,
      wait: (attempt) => poll(`${n.name} to accept unseal keys`, attempt),
    });
  };

  const firstStatus = await api(first).sealStatus();
  if (firstStatus.sealed) {
    progress.step(`unsealing ${first.name}`);
    if (auto)
      await withLogs(
        first,
        poll(`${first.name} to auto-unseal`, async () =>
          (await api(first).sealStatus()).sealed ? undefined : true,
        ),
      );
    else await unsealWithKeys(first);
    record(
      `unseal ${first.name}`,
      true,
      auto ? `auto-unsealed (${spec.seal.type} seal)` : 'with stored key shares',
    );
  } else {
    record(
      `unseal ${first.name}`,
      initialisedNow && auto ? 'waited' : false,
      initialisedNow && auto ? `auto-unsealed (${spec.seal.type} seal)` : undefined,
    );
  }

  progress.step('waiting for an active node');
  const leaderNode = await withLogs(
    first,
    poll('an active node', async () => {
      for (const n of spec.nodes) {
        const h = await api(n)
          .health()
          .catch(() => undefined);
        if (h?.initialized && !h.sealed && !h.standby) return n;
      }
      return undefined;
    }),
  );
  const leader = api(leaderNode);

  // The token for everything that follows: the fresh root token right after init; otherwise what
  // the caller resolves (BAO_TOKEN/VAULT_TOKEN, the admin credential after --revoke-root), else
  // the stored root token. Resolved only now: an admin login needs an unsealed, active node.
  const token = initialisedNow
    ? material?.rootToken
    : ((await deps.token?.()) ?? (state.rootRevoked() ? undefined : material?.rootToken));
  if (!token) {
    throw new UsageError(
      `configuring cluster ${spec.name}`,
      `the cluster is already initialised but ${state.initFile} does not exist, and no VAULT_TOKEN/BAO_TOKEN is set`,
      'point --state-dir at the state dir that holds init.json, or export VAULT_TOKEN with an admin token to finish the setup',
    );
  }
  for (const a of apis.values()) a.setToken(token);
  mark('leaderActive');

  // 4. Autopilot before the followers join, so its stabilisation time applies to them.
  const wantAutopilot: AutopilotConfig = {
    cleanup_dead_servers: spec.raft.autopilot.cleanupDeadServers,
    dead_server_last_contact_threshold: spec.raft.autopilot.deadServerLastContactThreshold,
    last_contact_threshold: spec.raft.autopilot.lastContactThreshold,
    server_stabilization_time: spec.raft.autopilot.serverStabilizationTime,
    min_quorum: spec.raft.autopilot.minQuorum,
  };
  const haveAutopilot = await poll('the autopilot configuration', () => leader.autopilotConfig(), 30_000);
  const autopilotDiffers = (Object.keys(wantAutopilot) as (keyof AutopilotConfig)[]).some(
    (k) => normaliseDuration(haveAutopilot[k]) !== normaliseDuration(wantAutopilot[k]),
  );
  if (autopilotDiffers) {
    await leader.setAutopilotConfig(wantAutopilot);
    record(
      'configure autopilot',
      true,
      `dead-server cleanup ${wantAutopilot.cleanup_dead_servers ? 'on' : 'off'}, min quorum ${wantAutopilot.min_quorum}`,
    );
  } else {
    record('configure autopilot', false);
  }

  // Under mutual TLS a joining node shows the leader its own certificate (from its own tls dir).
  const nodeClientCert = (n: NodeSpec): { clientCertPem?: string; clientKeyPem?: string } => {
    if (!spec.tls.requireClientCert) return {};
    const dir = tlsPaths(state).nodeDir(n);
    if (!existsSync(join(dir, 'cert.pem'))) return {};
    return {
      clientCertPem: readFileSync(join(dir, 'cert.pem'), 'utf8'),
      clientKeyPem: readFileSync(join(dir, 'key.pem'), 'utf8'),
    };
  };

  // 5. Followers join and unseal. retry_join would get there on its own, but only on its next
  // attempt (seconds apart, backing off); an explicit join now saves that wait. Failures of the
  // explicit join are not fatal: retry_join may have won the race.
  const followers = spec.nodes.filter((n) => n.name !== leaderNode.name);
  progress.step(`joining ${followers.map((n) => n.name).join(', ')}`);
  const joined = await Promise.all(
    followers.map(async (n) => {
      const s = await api(n).sealStatus();
      if (s.initialized && !s.sealed) return false;
      if (!s.initialized) {
        await api(n)
          .raftJoin(
            `${apiScheme(spec)}://${leaderNode.name}:${CONTAINER_API_PORT}`,
            deps.tls ? { caPem: deps.tls.ca, serverName: leaderNode.name, ...nodeClientCert(n) } : undefined,
          )
          .catch((err: Error) =>
            progress.debug(`explicit join: ${err.message}; relying on retry_join`, n.name),
          );
      }
      if (!auto) {
        await withLogs(n, unsealWithKeys(n));
        return true;
      }
      await withLogs(
        n,
        poll(`${n.name} to join and auto-unseal`, async () => {
          const st = await api(n).sealStatus();
          return st.initialized && !st.sealed ? true : undefined;
        }),
      );
      return true;
    }),
  );
  record('join followers', joined.some(Boolean), `${followers.length} followers unsealed`);
  mark('followersJoined');

  // 6. Every node a voter, one leader.
  progress.step(
    `waiting for ${spec.nodes.length} voters (autopilot promotes after ${spec.raft.autopilot.serverStabilizationTime})`,
  );
  const servers = await withLogs(
    leaderNode,
    poll(
      `all ${spec.nodes.length} nodes to be raft voters`,
      async () => {
        const list = await leader.raftServers();
        const voters = list.filter((s) => s.voter);
        const leaders = list.filter((s) => s.leader);
        return voters.length === spec.nodes.length && leaders.length === 1 ? list : undefined;
      },
      timeoutMs + durationMs(spec.raft.autopilot.serverStabilizationTime),
    ),
  );
  const voters = servers.filter((s) => s.voter).map((s) => s.node_id);
  // Voters alone are not the end: autopilot must also see every server healthy, so that
  // `vaultctl health` right after init reports the failure tolerance the cluster really has.
  const wantTolerance = Math.floor((spec.nodes.length - 1) / 2);
  await withLogs(
    leaderNode,
    poll(`autopilot to report ${spec.nodes.length} healthy voters`, async () => {
      const ap = await leader.autopilotState();
      return ap.healthy && ap.failure_tolerance >= wantTolerance ? ap : undefined;
    }),
  );
  record('raft voters', 'waited', `${voters.join(', ')}; failure tolerance ${wantTolerance}`);
  mark('votersReady');

  // 7. Audit device: declared in the HCL on OpenBao; enabled over the API on Vault.
  if (spec.audit.enabled) {
    const audits = await leader.audits();
    const present = Object.values(audits).some((a) => a?.type === 'file');
    const filePath = `${nodePaths(spec.flavor).logs}/${spec.audit.file}`;
    if (present) {
      record('audit device', false, filePath);
    } else if (spec.flavor === 'vault') {
      await leader.enableAudit('file', 'file', { file_path: filePath });
      record('audit device', true, filePath);
    } else {
      throw new RemoteError(
        'checking the audit device',
        `the HCL declares audit "file" but ${leaderNode.name} lists no file audit device`,
        'check the node log (`docker logs`) for audit errors; run `vaultctl up` to re-render the configuration',
      );
    }
  }

  // 8. KV v2.
  const mounts = await leader.mounts();
  const kvPath = `${spec.kv.path}/`;
  const kv = mounts[kvPath];
  if (!kv) {
    await leader.mount(spec.kv.path, 'kv', { version: '2' });
    record('KV v2', true, kvPath);
  } else if (kv.type !== 'kv' || kv.options?.version !== '2') {
    throw new UsageError(
      `enabling KV v2 at ${kvPath}`,
      `${kvPath} is already mounted as ${kv.type}${kv.options?.version ? ` v${kv.options.version}` : ''}`,
      `vaultctl does not convert an engine silently; upgrade it yourself (bao kv enable-versioning ${kvPath}) or choose another kv.path`,
    );
  } else {
    record('KV v2', false, kvPath);
  }

  // 9. Policies.
  const changedPolicies: string[] = [];
  for (const p of renderPolicies(spec)) {
    const have = await leader.readPolicy(p.name);
    if (have?.trim() === p.hcl.trim()) continue;
    await leader.writePolicy(p.name, p.hcl);
    changedPolicies.push(p.name);
  }
  record(
    'policies',
    changedPolicies.length > 0,
    renderPolicies(spec)
      .map((p) => p.name)
      .join(', '),
  );

  // 9b. The metrics token Prometheus scrapes with (not needed when metrics are unauthenticated).
  if (!spec.telemetry.unauthenticatedMetricsAccess) {
    const m = await ensureMetricsToken(leader, state);
    record('metrics token', m.changed, m.detail);
  }

  // 10. AppRole for the application.
  if (spec.appRole.enabled) {
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
    record(
      'AppRole',
      changed,
      `role ${spec.appRole.roleName} (policy app-read), credential in ${state.appRoleFile} (0600)`,
    );
  }
  mark('configured');

  // 11. The final word: every node unsealed, exactly one active.
  await poll('every node unsealed with one active node', async () => {
    const hs = await Promise.all(spec.nodes.map((n) => api(n).health()));
    const active = hs.filter((h) => h.initialized && !h.sealed && !h.standby).length;
    return hs.every((h) => h.initialized && !h.sealed) && active === 1 ? true : undefined;
  });
  mark('healthy');

  // 12. Optionally retire the root token: operators work with an admin credential instead.
  if (opts.revokeRoot) {
    if (state.rootRevoked()) {
      record('revoke the root token', false);
    } else {
      const cred = await createAdminCredential(leader, state);
      const adminToken = await loginAppRole(api(leaderNode), cred);
      const check = connectVaultNode({ address: leader.address, token: adminToken, tls: deps.tls });
      await check.readPolicy('admin');
      await check.raftServers();
      if (!material?.rootToken)
        throw new UsageError('revoking the root token', `no root token in ${state.initFile}`);
      const rootApi = connectVaultNode({ address: leader.address, token: material.rootToken, tls: deps.tls });
      await rootApi.write('auth/token/revoke-self', {}, 'revoking the root token');
      state.markRootRevoked();
      record(
        'revoke the root token',
        true,
        `admin credential in ${state.adminFile} (0600, policy admin); \`vaultctl root-token\` makes a new root token from the key shares`,
      );
    }
  }

  return { initialisedNow, leader: leaderNode.name, voters, steps, timings };
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

/** Go-style durations ("1h30m", "10s", "500ms") to milliseconds; NaN when not a duration. */
export function durationMs(text: string): number {
  const re = /(\d+(?:\.\d+)?)(ms|h|m|s)/g;
  let total = 0;
  let consumed = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const n = Number(m[1]);
    total += m[2] === 'ms' ? n : m[2] === 's' ? n * 1000 : m[2] === 'm' ? n * 60_000 : n * 3_600_000;
    consumed += m[0].length;
  }
  return consumed === text.length && consumed > 0 ? total : Number.NaN;
}

export type { InitMaterial };
