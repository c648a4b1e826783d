/**
 * A node whose every audit device fails answers HTTP 500 ("internal error") to every request that
 * is audited, reads included, while `sys/health`, `sys/leader` and `sys/seal-status` (never
 * audited) still answer as if all were well (OpenBao 2.7.2, measured with a full audit volume). An
 * active node in that state takes the whole cluster down, since standbys forward to it. These
 * helpers tell that state apart: a probe that goes through the audit path, and the cause read
 * from the node's log.
 */

import type { VaultNode } from '../vault/port.js';
import { VaultRequestError } from '../vault/port.js';

/**
 * The probe's path: no mount serves it, so a node that can audit answers 403 (permission denied,
 * no token sent) and logs about 700 bytes; one that cannot audit answers 500. Its audit lines
 * carry this path, so an operator can tell them from an application's.
 */
export const AUDIT_PROBE_PATH = '/vaultctl-audit-probe';

/** The audit path works (any answer but 500), fails (500), or the probe got no answer. */
export type AuditProbe = 'ok' | 'failing' | 'unknown';

/** The answer of a node whose every audit device failed: HTTP 500 with OpenBao's bare "internal error". */
export function auditFailure(status: number | undefined, errors: readonly string[]): boolean {
  return status === 500 && errors.some((e) => /^internal error$/i.test(e.trim()));
}

/** One unauthenticated request through the audit path (the client must carry no token). */
export async function probeAuditPath(api: VaultNode): Promise<AuditProbe> {
  if (typeof api.call !== 'function') return 'unknown';
  try {
    await api.call('GET', AUDIT_PROBE_PATH, 'probing the audit path');
    return 'ok';
  } catch (err) {
    if (!(err instanceof VaultRequestError) || err.kind !== 'http') return 'unknown';
    // Only the audit failure's own answer: a standby with no active node to forward to also answers
    // 500, with "local node not active but active cluster node not found" (quorum lost, not audit).
    return auditFailure(err.status, err.errors) ? 'failing' : 'ok';
  }
}

/**
 * The last audit failure in a node's log: `<device>: <error>`, e.g. `file/: write
 * /openbao/logs/audit.log: no space left on device`. OpenBao logs each failed device
 * ("audit: backend failed to log request: backend=file/ error=...") and then "no audit backend
 * succeeded"; a success logs nothing, so the probe, not the log, says whether it still fails.
 */
export function auditDeviceCause(log: string): string | undefined {
  let cause: string | undefined;
  let anyFailed = false;
  for (const line of log.split('\n')) {
    const m = /audit: backend failed to log (?:request|response): backend=(\S+) error="?(.*?)"?\s*$/.exec(
      line,
    );
    if (m) cause = `${m[1]}: ${m[2]!.slice(0, 200)}`;
    if (/no audit backend succeeded in logging/.test(line)) anyFailed = true;
  }
  return cause ?? (anyFailed ? 'no audit device succeeded in logging the request' : undefined);
}

/** What to do about a node that cannot audit, for reasons and hints. */
export function auditBlockedHint(node: string): string {
  return `free space on ${node}'s audit volume (the device writes again without a restart, measured), or \`docker restart\` ${node} so that a standby with a working audit device becomes active; \`vaultctl health\` names the device`;
}
