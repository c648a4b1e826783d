/**
 * Cluster health: per-node facts and one verdict.
 *
 *   healthy  (exit 0) every node reachable, unsealed; one active node; all voters present;
 *   degraded (exit 1) quorum holds and requests are served, but something is wrong;
 *   down     (exit 2) no active node, quorum lost, or nothing answers.
 *
 * `judgeHealth` is pure (unit-tested); `checkHealth` gathers facts over the API.
 */

import { auditBlockedHint, auditDeviceCause, probeAuditPath } from '../audit/probe.js';
import type { Clock } from '../cluster/poll.js';
import { PollTimeoutError, pollUntil } from '../cluster/poll.js';
import { CancelledError } from '../errors.js';
import { quorumOf } from '../spec/schema.js';
import type { VaultConnector, VaultNode, VaultTls } from '../vault/port.js';
import { VaultRequestError } from '../vault/port.js';

export type Verdict = 'healthy' | 'degraded' | 'down';

export interface HealthTarget {
  readonly name: string;
  readonly address: string;
}

export interface NodeHealth {
  readonly name: string;
  readonly address: string;
  readonly reachable: boolean;
  readonly initialized?: boolean;
  readonly sealed?: boolean;
  readonly active?: boolean;
  readonly version?: string;
  readonly raftAppliedIndex?: number;
  readonly error?: string;
  /** What to do about `error`, when vaultctl knows (e.g. an http:// address of a TLS node). */
  readonly hint?: string;
  /**
   * Why a node that is down or sealed cannot unseal, read from its log: its seal backend (the
   * KMS, the transit server) did not answer at start, and the server exits then.
   */
  readonly sealBackend?: string;
  /**
   * The node answers 500 to a request that goes through the audit path: no audit device can log.
   * The value is the cause read from its log (the device and its error), or a generic one.
   */
  readonly auditFailing?: string;
}

export interface RaftFacts {
  readonly voters: readonly string[];
  readonly servers: number;
  readonly leader?: string;
  readonly failureTolerance?: number;
  readonly autopilotHealthy?: boolean;
  /** Names of servers autopilot reports unhealthy. */
  readonly unhealthyServers?: readonly string[];
}

/** The active-node endpoint as a client sees it: does it reach an active node? */
export interface EndpointHealth {
  readonly address: string;
  readonly reachable: boolean;
  /** The node behind it answered active (unsealed, not standby). */
  readonly active?: boolean;
  readonly error?: string;
}

export interface ClusterHealth {
  readonly verdict: Verdict;
  readonly reasons: readonly string[];
  readonly nodes: readonly NodeHealth[];
  readonly expectedVoters: number;
  readonly activeCount: number;
  readonly raft?: RaftFacts;
  readonly endpoint?: EndpointHealth;
  /** Why raft facts are missing (no token, no active node, permission). */
  readonly raftUnknown?: string;
}

export const VERDICT_EXIT: Record<Verdict, number> = { healthy: 0, degraded: 1, down: 2 };

export function judgeHealth(
  nodes: readonly NodeHealth[],
  expectedVoters: number,
  raft: RaftFacts | undefined,
  endpoint?: EndpointHealth,
): { verdict: Verdict; reasons: string[]; activeCount: number } {
  const down: string[] = [];
  const degraded: string[] = [];
  const reachable = nodes.filter((n) => n.reachable);
  const unsealed = reachable.filter((n) => n.initialized && !n.sealed);
  const active = unsealed.filter((n) => n.active);
  const quorum = quorumOf(expectedVoters);

  if (reachable.length === 0) down.push('no node answers');
  if (reachable.length > 0 && active.length === 0) down.push('no active node (no leader)');
  // Only when every node was checked: one address alone says nothing about the others (raft does).
  if (nodes.length >= expectedVoters && unsealed.length < quorum)
    down.push(`${unsealed.length} of ${expectedVoters} nodes unsealed, quorum needs ${quorum}`);

  // An active node that cannot audit answers 500 to every request (the standbys forward to it):
  // the cluster serves nothing although every node looks unsealed and one is active.
  const auditBlocked = active.filter((n) => n.auditFailing);
  for (const n of auditBlocked)
    down.push(
      `${n.name} (active) answers HTTP 500 to every request: no audit device can write (${n.auditFailing}); ${auditBlockedHint(n.name)}`,
    );
  for (const n of unsealed.filter((x) => x.auditFailing && !x.active))
    if (auditBlocked.length === 0)
      degraded.push(
        `${n.name} answers HTTP 500 to audited requests: no audit device can write (${n.auditFailing})`,
      );

  const sealBlocked = nodes.filter((n) => n.sealBackend);
  // The cause first, whatever the verdict: one node blocked is degraded, a cluster blocked is down.
  const sealReason =
    sealBlocked.length > 0
      ? [
          // A token the backend no longer takes (expired, revoked) fails the same way at start.
          /permission denied|403|invalid token/i.test(sealBlocked[0]!.sealBackend!)
            ? `seal backend refuses the nodes' credentials: ${sealBlocked.map((n) => n.name).join(', ')} cannot unseal (${sealBlocked[0]!.sealBackend}); with the unsealer, \`vaultctl up\` issues a new token`
            : `seal backend unreachable: ${sealBlocked.map((n) => n.name).join(', ')} cannot unseal (${sealBlocked[0]!.sealBackend}); they unseal themselves once it answers again`,
        ]
      : [];
  for (const n of nodes) {
    if (n.sealBackend)
      degraded.push(`${n.name} ${n.reachable ? 'sealed' : 'down'}: its seal backend is unreachable`);
    else if (!n.reachable) degraded.push(`${n.name} unreachable${n.error ? ` (${n.error})` : ''}`);
    else if (!n.initialized) degraded.push(`${n.name} not initialised`);
    else if (n.sealed) degraded.push(`${n.name} sealed`);
  }
  if (active.length > 1) degraded.push(`${active.length} nodes claim to be active`);
  if (raft) {
    if (raft.voters.length < expectedVoters)
      degraded.push(`${raft.voters.length} of ${expectedVoters} raft voters`);
    const wantTolerance = Math.floor((expectedVoters - 1) / 2);
    if (raft.failureTolerance !== undefined && raft.failureTolerance < wantTolerance) {
      degraded.push(`failure tolerance ${raft.failureTolerance}, expected ${wantTolerance}`);
    }
    if (raft.autopilotHealthy === false) {
      const which = raft.unhealthyServers?.length ? ` (${raft.unhealthyServers.join(', ')})` : '';
      degraded.push(`autopilot reports the cluster unhealthy${which}`);
    }
  }
  // Applications that know only the endpoint lose the cluster when it does not route: degraded,
  // since every node may still be reached directly.
  if (endpoint && !(endpoint.reachable && endpoint.active)) {
    degraded.push(
      `endpoint ${endpoint.address} ${endpoint.reachable ? 'does not reach the active node' : 'does not answer'}${endpoint.error ? ` (${endpoint.error})` : ''}`,
    );
  }
  if (down.length > 0)
    return { verdict: 'down', reasons: [...sealReason, ...down, ...degraded], activeCount: active.length };
  if (degraded.length > 0)
    return { verdict: 'degraded', reasons: [...sealReason, ...degraded], activeCount: active.length };
  return { verdict: 'healthy', reasons: [], activeCount: active.length };
}

/**
 * Why a node cannot unseal, from the last lines of its log: a seal backend (KMS, transit) that did
 * not answer when the server configured its seal. The server exits then ("Error configuring seal
 * ..."), and its container restarts until the backend answers; a start after the error clears it.
 */
export function sealBackendCause(log: string): string | undefined {
  const lines = log.split('\n');
  let cause: string | undefined;
  for (const line of lines) {
    const m = /Error configuring seal "?([\w-]+)"?: (.*)$/i.exec(line);
    if (m) cause = `${m[1]}: ${m[2]!.trim().slice(0, 200)}`;
    else if (/server started!|core: (vault is unsealed|post-unseal setup complete)/i.test(line))
      cause = undefined;
  }
  return cause;
}

export interface HealthDeps {
  /**
   * A node's last log lines (managed clusters): read for nodes that are down or sealed, to name a
   * seal backend they cannot reach.
   */
  readonly logsOf?: ((name: string) => Promise<string>) | undefined;
  /** Makes the API clients (the cluster's connector; a fake in unit tests). */
  readonly connect: VaultConnector;
  /** The active-node endpoint's address, checked as a client sees it. */
  readonly endpoint?: string | undefined;
  readonly token?: string | undefined;
  readonly tls?: VaultTls | undefined;
  readonly timeoutMs?: number;
}

async function nodeFacts(target: HealthTarget, timeoutMs: number, deps: HealthDeps): Promise<NodeHealth> {
  const api = deps.connect({ address: target.address, timeoutMs, tls: deps.tls });
  try {
    const [h, l] = await Promise.all([api.health(), api.leader().catch(() => undefined)]);
    // No token on this client: the probe is refused (403) when the node can audit it.
    const audit = h.initialized && !h.sealed ? await probeAuditPath(api) : 'unknown';
    const auditCause =
      audit === 'failing'
        ? (auditDeviceCause(deps.logsOf ? await deps.logsOf(target.name).catch(() => '') : '') ??
          'no audit device succeeded in logging the request')
        : undefined;
    return {
      name: target.name,
      address: target.address,
      reachable: true,
      initialized: h.initialized,
      sealed: h.sealed,
      active: h.initialized && !h.sealed && !h.standby,
      ...(h.version ? { version: h.version } : {}),
      ...(l?.raft_applied_index !== undefined ? { raftAppliedIndex: l.raft_applied_index } : {}),
      ...(auditCause ? { auditFailing: auditCause } : {}),
    };
  } catch (err) {
    const msg = err instanceof VaultRequestError ? err.message : (err as Error).message;
    const hint = err instanceof VaultRequestError && err.plainHttpToTls ? err.hint : undefined;
    return {
      name: target.name,
      address: target.address,
      reachable: false,
      error: msg,
      ...(hint ? { hint } : {}),
    };
  }
}

async function endpointFacts(address: string, timeoutMs: number, deps: HealthDeps): Promise<EndpointHealth> {
  try {
    const h = await deps.connect({ address, timeoutMs, tls: deps.tls }).health();
    return { address, reachable: true, active: h.initialized && !h.sealed && !h.standby };
  } catch (err) {
    return { address, reachable: false, error: (err as Error).message };
  }
}

async function raftFacts(
  address: string,
  token: string,
  timeoutMs: number,
  deps: HealthDeps,
): Promise<RaftFacts> {
  const api = deps.connect({ address, token, timeoutMs, tls: deps.tls });
  const servers = await api.raftServers();
  const ap = await api.autopilotState().catch(() => undefined);
  const unhealthy = ap
    ? Object.values(ap.servers ?? {})
        .filter((s) => !s.healthy)
        .map((s) => s.name || s.id)
    : undefined;
  return {
    voters: servers.filter((s) => s.voter).map((s) => s.node_id),
    servers: servers.length,
    ...(servers.find((s) => s.leader) ? { leader: servers.find((s) => s.leader)!.node_id } : {}),
    ...(ap ? { failureTolerance: ap.failure_tolerance, autopilotHealthy: ap.healthy } : {}),
    ...(unhealthy ? { unhealthyServers: unhealthy } : {}),
  };
}

/**
 * @param expectedVoters the voters a healthy cluster has; undefined: the larger of the number of
 *   targets and the servers raft knows (for clusters given only by one address).
 */
export async function checkHealth(
  targets: readonly HealthTarget[],
  expectedVoters: number | undefined,
  deps: HealthDeps,
): Promise<ClusterHealth> {
  const timeoutMs = deps.timeoutMs ?? 3000;
  const [nodes, endpoint] = await Promise.all([
    Promise.all(
      targets.map(async (t) => {
        const n = await nodeFacts(t, timeoutMs, deps);
        if (!deps.logsOf || (n.reachable && !n.sealed)) return n;
        const cause = sealBackendCause(await deps.logsOf(t.name).catch(() => ''));
        return cause ? { ...n, sealBackend: cause } : n;
      }),
    ),
    deps.endpoint ? endpointFacts(deps.endpoint, timeoutMs, deps) : Promise.resolve(undefined),
  ]);
  let raft: RaftFacts | undefined;
  let raftUnknown: string | undefined;
  /** A token was given but raft could not be read with it: voters and autopilot are unchecked. */
  let raftUnchecked: string | undefined;
  const active = nodes.find((n) => n.active);
  if (!deps.token) raftUnknown = 'no token (VAULT_TOKEN/BAO_TOKEN or the state dir): raft voters not checked';
  else if (!active) raftUnknown = 'no active node to ask';
  else {
    try {
      raft = await raftFacts(active.address, deps.token, timeoutMs, deps);
    } catch (err) {
      raftUnknown = `raft state not readable: ${(err as Error).message}`;
      raftUnchecked = `raft voters and autopilot could not be checked (${(err as Error).message})`;
    }
  }
  const expected = expectedVoters ?? Math.max(targets.length, raft?.servers ?? 0);
  const judged = judgeHealth(nodes, expected, raft, endpoint);
  const { activeCount } = judged;
  let { verdict, reasons } = judged;
  // What could not be checked is not healthy: a rejected token must not pass a CI gate.
  if (raftUnchecked && verdict === 'healthy') {
    verdict = 'degraded';
    reasons = [raftUnchecked];
  } else if (raftUnchecked) reasons = [...reasons, raftUnchecked];
  return {
    verdict,
    reasons,
    nodes,
    expectedVoters: expected,
    activeCount,
    ...(raft ? { raft } : {}),
    ...(endpoint ? { endpoint } : {}),
    ...(raftUnknown ? { raftUnknown } : {}),
  };
}

/**
 * Polls (through `pollUntil`) until healthy or the deadline; returns the last observation either
 * way, also when the wait is cancelled (the caller decides what a cancelled wait means).
 */
export async function waitForHealth(
  targets: readonly HealthTarget[],
  expectedVoters: number | undefined,
  deps: HealthDeps & {
    signal?: AbortSignal | undefined;
    clock?: Clock;
    waitMs: number;
    onPoll?: (h: ClusterHealth) => void;
  },
): Promise<ClusterHealth> {
  let last: ClusterHealth | undefined;
  try {
    return await pollUntil(
      async () => {
        last = await checkHealth(targets, expectedVoters, deps);
        deps.onPoll?.(last);
        return last.verdict === 'healthy' ? last : undefined;
      },
      {
        what: 'a healthy cluster',
        timeoutMs: deps.waitMs,
        intervalMs: 250,
        signal: deps.signal,
        ...(deps.clock ? { clock: deps.clock } : {}),
      },
    );
  } catch (err) {
    if ((err instanceof PollTimeoutError || err instanceof CancelledError) && last) return last;
    if (err instanceof CancelledError) return checkHealth(targets, expectedVoters, deps);
    throw err;
  }
}

export interface CaughtUp {
  /** When every node was caught up (the clock's time), or undefined when the wait ended first. */
  readonly at: number | undefined;
  /** The address of each node not caught up when the wait ended (empty when caught up). */
  readonly behind: readonly string[];
}

/**
 * Polls every 100 ms (through `pollUntil`) until every node of `which` answers unsealed and has
 * applied at least `mark` (default: the active node's applied index when one is first seen).
 * On timeout or cancel, `at` is undefined and `behind` names the nodes that were not there.
 */
export async function waitCaughtUp(
  nodes: readonly VaultNode[],
  which: readonly VaultNode[],
  opts: { mark?: number | undefined; timeoutMs: number; signal?: AbortSignal | undefined; clock?: Clock },
): Promise<CaughtUp> {
  let target = opts.mark;
  let behind: string[] = which.map((a) => a.address);
  const now = () => (opts.clock ?? { now: () => performance.now() }).now();
  try {
    const at = await pollUntil(
      async () => {
        const facts = await Promise.all(
          nodes.map(async (api) => {
            try {
              const [h, l] = await Promise.all([api.health(), api.leader()]);
              return {
                api,
                unsealed: h.initialized && !h.sealed,
                active: !h.standby,
                applied: l.raft_applied_index,
              };
            } catch {
              return undefined;
            }
          }),
        );
        const active = facts.find((f) => f?.unsealed && f.active);
        if (!active) return undefined;
        target ??= active.applied;
        behind = which
          .filter((api) => {
            const f = facts.find((x) => x?.api === api);
            return !(f?.unsealed && f.applied !== undefined && (target === undefined || f.applied >= target));
          })
          .map((a) => a.address);
        return behind.length === 0 ? now() : undefined;
      },
      {
        what: 'every node to catch up',
        timeoutMs: opts.timeoutMs,
        intervalMs: 100,
        signal: opts.signal,
        ...(opts.clock ? { clock: opts.clock } : {}),
      },
    );
    return { at, behind: [] };
  } catch (err) {
    if (err instanceof PollTimeoutError || err instanceof CancelledError) return { at: undefined, behind };
    throw err;
  }
}
