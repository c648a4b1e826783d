/**
 * The agent's `audit-rotate` job: every 15 minutes the same pass as `vaultctl audit rotate` (a node's
 * live audit file past audit.rotateSize or audit.rotateAge is renamed, reopened by SIGHUP,
 * compressed; retention applied). Level-triggered: a pass that finds nothing due does nothing, so a
 * missed slot loses nothing. Like the disk job it needs the Docker Engine (a helper container does
 * the file work and SIGHUP goes through the runtime), so the agent's own container leaves it out.
 */
import { rotateAudit } from '../audit/rotate.js';
import type { ManagedCluster, RunningCluster } from '../cluster/running.js';
import { parseSchedule } from '../spec/schedule.js';
import type { ClusterSpec } from '../spec/schema.js';
import type { Logger } from './log.js';
import type { Job } from './runner.js';

export const AUDIT_JOB = 'audit-rotate';

export function auditRotateJob(deps: {
  spec: ClusterSpec;
  cluster: RunningCluster;
  log: Logger;
  schedule?: string;
}): Job {
  return {
    name: AUDIT_JOB,
    schedule: parseSchedule(deps.schedule ?? '@every 15m'),
    jitterMs: 0,
    timeoutMs: 300_000,
    run: async (signal) => {
      const managed = deps.cluster as Partial<ManagedCluster>;
      // Only OpenBao file devices of a cluster vaultctl runs (rotateAudit refuses the rest).
      if (managed.managed !== true || !managed.runtime) return;
      if (!deps.spec.audit.enabled || deps.spec.flavor !== 'openbao') return;
      const res = await rotateAudit(managed as ManagedCluster, managed.runtime(), { signal });
      for (const r of res)
        if (r.rotated) deps.log.info('audit log rotated', { node: r.node, file: r.rotated, why: r.reason });
        else deps.log.debug('audit log not due', { node: r.node, why: r.reason });
    },
  };
}
