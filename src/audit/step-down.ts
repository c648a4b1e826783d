/**
 * An active node whose every audit device fails holds the cluster hostage: it answers 500 to every
 * request, the standbys forward theirs to it, and it cannot be asked to step down, since
 * `sys/step-down` is itself audited (and refused with 500 before it runs). What works from the
 * outside is a restart of its container: it rejoins as a follower and a standby with a working
 * audit device is elected. A standby that cannot audit harms nobody (it forwards, the active node
 * audits), so the restarted node may keep its full volume until someone frees it.
 *
 * `stepDownAuditBlocked` is one pass of that job: the agent runs it on a schedule, and it is safe
 * to call at any time (it acts only when the probe says the active node cannot audit).
 */

import type { NodeHandle, RunningCluster } from '../cluster/running.js';
import { auditDeviceCause, probeAuditPath } from './probe.js';

export interface AuditStepDownOptions {
  readonly signal?: AbortSignal | undefined;
  /** How long to wait for another node to serve after the restart (default 60 s). */
  readonly timeoutMs?: number;
}

export interface AuditStepDownResult {
  /** `none`: the active node audits (or there is none); `restarted`: it was restarted. */
  readonly action: 'none' | 'restarted' | 'refused';
  /** The node that could not audit. */
  readonly node?: string;
  /** Its audit device's error, from its log. */
  readonly cause?: string;
  /** The node that serves afterwards. */
  readonly newActive?: string;
  readonly reason?: string;
}

async function servesThroughAudit(cluster: RunningCluster, n: NodeHandle): Promise<boolean> {
  return (await probeAuditPath(cluster.connect(n.address, { token: undefined, timeoutMs: 3000 }))) === 'ok';
}

/**
 * Restarts the active node when it answers 500 through the audit path and a standby can take over,
 * then waits until another node is active and serves audited requests.
 */
export async function stepDownAuditBlocked(
  cluster: RunningCluster,
  opts: AuditStepDownOptions = {},
): Promise<AuditStepDownResult> {
  const active = await cluster.active({ timeoutMs: 3000 });
  if (!active) return { action: 'none', reason: 'no active node' };
  const probe = await probeAuditPath(cluster.connect(active.address, { token: undefined, timeoutMs: 3000 }));
  if (probe !== 'failing') return { action: 'none', node: active.name };
  const cause = auditDeviceCause(await active.logs(60).catch(() => '')) ?? 'no audit device succeeded';
  const standbys = await cluster.standbys();
  if (standbys.length === 0)
    return { action: 'refused', node: active.name, cause, reason: 'no unsealed standby to take over' };
  if (!active.container)
    return {
      action: 'refused',
      node: active.name,
      cause,
      reason: 'the node is known only by its address; vaultctl cannot restart it',
    };
  await active.restart(10);
  const next = await cluster.waitFor(
    'another node to serve audited requests',
    async () => {
      const now = await cluster.active({ timeoutMs: 2000 });
      if (!now || now.name === active.name) return undefined;
      return (await servesThroughAudit(cluster, now)) ? now : undefined;
    },
    {
      timeoutMs: opts.timeoutMs ?? 60_000,
      intervalMs: 100,
      signal: opts.signal,
      doing: `stepping ${active.name} down (its audit devices fail: ${cause})`,
      hint: 'the other nodes cannot audit either, or no standby is unsealed: `vaultctl health`',
    },
  );
  return { action: 'restarted', node: active.name, cause, newActive: next.name };
}
