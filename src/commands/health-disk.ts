/**
 * The disk part of `health`: one measurement of every node's audit and raft volume, judged with
 * the agent's newest sample as the earlier measurement of the growth rate. A measurement that
 * fails is a note, not a verdict: the cluster may be fine and the helper image missing.
 */
import { ensureToolboxImage } from '../audit/toolbox.js';
import { errorMessage } from '../errors.js';
import type { VolumeVerdict } from '../health/disk.js';
import { formatBytes, formatSeconds, judgeDisk } from '../health/disk.js';
import { diskPolicy, measureDisk, readDiskSamples } from '../health/disk-probe.js';
import { table } from '../output/format.js';
import type { ContainerRuntime } from '../runtime/port.js';
import type { ClusterSpec } from '../spec/schema.js';

export interface DiskSection {
  readonly volumes?: readonly VolumeVerdict[];
  /** Unix ms of the earlier sample the rate is from (the agent's). */
  readonly rateSince?: number;
  /** Why nothing was measured. */
  readonly error?: string;
}

export async function diskSection(
  spec: ClusterSpec,
  stateRoot: string,
  runtime: () => ContainerRuntime,
): Promise<DiskSection> {
  try {
    const rt = runtime();
    const cur = await measureDisk(spec, rt, await ensureToolboxImage(rt));
    const prev = readDiskSamples(stateRoot)
      .filter((s) => s.at < cur.at)
      .at(-1);
    return { volumes: judgeDisk(cur, prev, diskPolicy(spec)), ...(prev ? { rateSince: prev.at } : {}) };
  } catch (err) {
    return { error: errorMessage(err) };
  }
}

export function renderDisk(d: DiskSection): string {
  if (!d.volumes) return `Disk: not measured (${d.error ?? 'unknown'})`;
  const rows = d.volumes.map((v) => [
    v.node,
    v.volume,
    formatBytes(v.usedBytes),
    formatBytes(v.fsSizeBytes),
    formatBytes(v.fsAvailBytes),
    `${v.usedPercent}%`,
    v.growthBytesPerSec === undefined ? '-' : `${formatBytes(v.growthBytesPerSec * 3600)}/h`,
    v.timeToFullSec !== undefined
      ? formatSeconds(v.timeToFullSec)
      : v.growthBytesPerSec !== undefined
        ? 'not growing'
        : 'rate unknown',
  ]);
  const since = d.rateSince
    ? `growth since the agent's sample of ${new Date(d.rateSince).toISOString()}`
    : `rate unknown: ${d.volumes[0]?.rateUnknown ?? 'no earlier sample'}`;
  return `\nDisk (${since}):\n${table(['NODE', 'VOLUME', 'USED', 'FS SIZE', 'FS FREE', 'USE%', 'GROWTH', 'TIME TO FULL'], rows)}`;
}
