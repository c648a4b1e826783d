/**
 * Disk watch: each node's audit volume (`<cluster>-<node>-logs`) and raft volume
 * (`<cluster>-<node>-data`), their bytes, their filesystem's size and free space, and the time to
 * full at the current growth rate. Pure (unit-tested); `disk-probe.ts` measures.
 *
 * The growth rate is the change of the volume's own bytes (`du`) between two samples, so another
 * tenant of a shared host disk does not move it; the time to full is the filesystem's free space
 * (available to unprivileged writers, as the node's server uid is) divided by that rate.
 */

export type VolumeKind = 'audit' | 'raft';

export interface VolumeUsage {
  readonly node: string;
  readonly volume: VolumeKind;
  /** Bytes of the files in the volume (du -sk x 1024). */
  readonly usedBytes: number;
  /** The filesystem behind the volume: size, free for unprivileged writers, used (size - free blocks). */
  readonly fsSizeBytes: number;
  readonly fsAvailBytes: number;
  readonly fsUsedBytes: number;
}

export interface DiskSample {
  /** Unix ms of the measurement. */
  readonly at: number;
  readonly volumes: readonly VolumeUsage[];
}

export interface DiskPolicy {
  /** Degraded at or above this percent of the filesystem used (df's Use%). */
  readonly maxUsedPercent: number;
  /** Degraded when full within this many ms at the current rate. */
  readonly minTimeToFullMs: number;
}

export interface VolumeVerdict extends VolumeUsage {
  /** df's Use%: used / (used + available), rounded up as df does. */
  readonly usedPercent: number;
  /** Bytes per second the volume grew since the previous sample; undefined: rate unknown. */
  readonly growthBytesPerSec?: number;
  /** Seconds until the filesystem is full at that rate; undefined: unknown or not growing. */
  readonly timeToFullSec?: number;
  /** Why the rate is unknown, when it is. */
  readonly rateUnknown?: string;
  readonly problems: readonly string[];
}

/** df's Use%: used / (used + available), rounded up (a filesystem 80.1 % used says 81 %). */
export function usedPercent(v: Pick<VolumeUsage, 'fsUsedBytes' | 'fsAvailBytes'>): number {
  const total = v.fsUsedBytes + v.fsAvailBytes;
  return total <= 0 ? 100 : Math.ceil((v.fsUsedBytes / total) * 100);
}

/** Bytes per second between two measurements of one volume; undefined when they are under 1 s apart. */
export function growthRate(
  prevBytes: number,
  prevAt: number,
  curBytes: number,
  curAt: number,
): number | undefined {
  const dt = (curAt - prevAt) / 1000;
  if (!(dt >= 1)) return undefined;
  return (curBytes - prevBytes) / dt;
}

/** Seconds until `availBytes` are used at `bytesPerSec`; undefined when not growing. 0 when full. */
export function timeToFull(availBytes: number, bytesPerSec: number | undefined): number | undefined {
  if (availBytes <= 0) return 0;
  if (bytesPerSec === undefined || bytesPerSec <= 0) return undefined;
  return availBytes / bytesPerSec;
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** 3_500_000 -> "3.3 MiB". */
export function formatBytes(n: number): string {
  let v = Math.abs(n);
  let i = 0;
  while (v >= 1024 && i < UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  return `${n < 0 ? '-' : ''}${i === 0 ? v.toFixed(0) : v.toFixed(1)} ${UNITS[i]}`;
}

/** 90_000 -> "1.0 d", 5400 -> "1.5 h", 90 -> "1.5 min", 12 -> "12 s". */
export function formatSeconds(s: number): string {
  if (s >= 86_400) return `${(s / 86_400).toFixed(1)} d`;
  if (s >= 3600) return `${(s / 3600).toFixed(1)} h`;
  if (s >= 60) return `${(s / 60).toFixed(1)} min`;
  return `${Math.round(s)} s`;
}

/** The volume's name in messages: "vault-1's audit volume". */
export const volumeLabel = (v: Pick<VolumeUsage, 'node' | 'volume'>) => `${v.node}'s ${v.volume} volume`;

/**
 * Each volume of `cur` judged against the policy; its rate from the same volume in `prev` (the
 * agent's last sample, or an earlier one health took). A volume is a problem when its filesystem
 * is at or past `maxUsedPercent`, or full within `minTimeToFullMs` at its growth rate.
 */
export function judgeDisk(
  cur: DiskSample,
  prev: DiskSample | undefined,
  policy: DiskPolicy,
): VolumeVerdict[] {
  return cur.volumes.map((v) => {
    const before = prev?.volumes.find((p) => p.node === v.node && p.volume === v.volume);
    const rate = before ? growthRate(before.usedBytes, prev!.at, v.usedBytes, cur.at) : undefined;
    const rateUnknown = !prev
      ? 'no earlier sample (the agent records one every run of its disk job)'
      : !before
        ? 'the earlier sample does not have this volume'
        : rate === undefined
          ? 'samples under 1 s apart'
          : undefined;
    const pct = usedPercent(v);
    const ttf = timeToFull(v.fsAvailBytes, rate);
    const problems: string[] = [];
    if (pct >= policy.maxUsedPercent)
      problems.push(
        `${volumeLabel(v)} is ${pct}% full (${formatBytes(v.fsAvailBytes)} free of ${formatBytes(v.fsSizeBytes)}, the volume holds ${formatBytes(v.usedBytes)}; threshold ${policy.maxUsedPercent}%)`,
      );
    if (ttf !== undefined && ttf * 1000 < policy.minTimeToFullMs)
      problems.push(
        `${volumeLabel(v)} is full in ${formatSeconds(ttf)} at ${formatBytes(rate! * 3600)}/h (threshold ${formatSeconds(policy.minTimeToFullMs / 1000)})`,
      );
    return {
      ...v,
      usedPercent: pct,
      ...(rate !== undefined ? { growthBytesPerSec: rate } : {}),
      ...(ttf !== undefined ? { timeToFullSec: ttf } : {}),
      ...(rateUnknown ? { rateUnknown } : {}),
      problems,
    };
  });
}

/** What to do about a filling volume, for the health output. */
export function diskHint(kind: VolumeKind): string {
  return kind === 'audit'
    ? '`vaultctl audit rotate` compresses the live audit file and applies retention (audit.keep, audit.retention); a full audit volume blocks every request'
    : "the raft volume holds the database and its snapshots: grow the disk behind it (`docker volume inspect`), or check raft snapshots run (OpenBao's snapshot_threshold)";
}
