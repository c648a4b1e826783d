/**
 * The agent's `disk` job: every 5 minutes one sample of every node's audit and raft volume (see
 * health/disk-probe.ts), kept with the one before it in `agent/disk.json`. The metrics endpoint
 * exports the newest sample; `health` uses it as the earlier measurement of the growth rate.
 */
import { ensureToolboxImage } from '../audit/toolbox.js';
import type { ManagedCluster, RunningCluster } from '../cluster/running.js';
import { formatBytes, formatSeconds, judgeDisk } from '../health/disk.js';
import { diskPolicy, measureDisk, recordDiskSample } from '../health/disk-probe.js';
import { parseSchedule } from '../spec/schedule.js';
import type { ClusterSpec } from '../spec/schema.js';
import type { StateDir } from '../state/state-dir.js';
import type { Logger } from './log.js';
import type { Job } from './runner.js';

export const DISK_JOB = 'disk';

export function diskJob(deps: {
  spec: ClusterSpec;
  state: StateDir;
  cluster: RunningCluster;
  log: Logger;
  schedule?: string;
}): Job {
  return {
    name: DISK_JOB,
    schedule: parseSchedule(deps.schedule ?? '@every 5m'),
    jitterMs: 0,
    timeoutMs: 120_000,
    run: async () => {
      const { cluster } = deps;
      // The agent runs for a spec's cluster: its volumes are vaultctl's (an addressed one has none).
      const managed = cluster as Partial<ManagedCluster>;
      if (managed.managed !== true || !managed.runtime) return;
      const runtime = managed.runtime();
      const sample = await measureDisk(deps.spec, runtime, await ensureToolboxImage(runtime));
      const samples = recordDiskSample(deps.state.root, sample);
      const judged = judgeDisk(sample, samples.length > 1 ? samples[0] : undefined, diskPolicy(deps.spec));
      for (const v of judged) {
        const fields = {
          node: v.node,
          volume: v.volume,
          used: formatBytes(v.usedBytes),
          free: formatBytes(v.fsAvailBytes),
          usedPercent: v.usedPercent,
          ...(v.timeToFullSec !== undefined ? { timeToFull: formatSeconds(v.timeToFullSec) } : {}),
        };
        if (v.problems.length > 0)
          deps.log.warn('disk filling', { ...fields, problems: v.problems.join('; ') });
        else deps.log.debug('disk', fields);
      }
    },
  };
}
