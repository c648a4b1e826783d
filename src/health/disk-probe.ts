/**
 * Measures the disk watch's figures: one throwaway container of the helper image (busybox, see
 * audit/toolbox.ts) mounts every node's audit and raft volume read-only and prints, per volume,
 * `du -sk` (the volume's bytes) and `stat -f` (its filesystem's size and free blocks). One
 * container for the whole cluster: about 0.5 s. Docker's `system df` was not taken: it walks every
 * volume on the engine (slow on a shared host) and gives a volume's size but not its filesystem's
 * size or free space, which the time to full needs.
 *
 * The agent's disk job keeps its last two samples in `agent/disk.json` (0600); `health` takes its
 * own sample and uses the agent's newest one as the earlier measurement of the growth rate.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AGENT_DIR } from '../agent/status.js';
import { parseDuration } from '../cluster/poll.js';
import { RemoteError } from '../errors.js';
import type { ContainerRuntime } from '../runtime/port.js';
import { volumeName } from '../spec/names.js';
import type { ClusterSpec } from '../spec/schema.js';
import { writeFileAtomic } from '../state/atomic.js';
import type { DiskPolicy, DiskSample, VolumeKind, VolumeUsage } from './disk.js';

export const DISK_FILE = 'disk.json';

export function diskPolicy(spec: ClusterSpec): DiskPolicy {
  return {
    maxUsedPercent: spec.monitoring.diskMaxUsedPercent,
    minTimeToFullMs: parseDuration(spec.monitoring.diskMinTimeToFull) ?? 24 * 3600_000,
  };
}

/** Parses the helper's lines `<node> <audit|raft> <du KiB> <bsize> <blocks> <bfree> <bavail>`. */
export function parseDiskLines(output: string): VolumeUsage[] {
  const out: VolumeUsage[] = [];
  for (const line of output.split('\n')) {
    const m = /^(\S+) (audit|raft) (\d+) (\d+) (\d+) (\d+) (\d+)\s*$/.exec(line.trim());
    if (!m) continue;
    const [bsize, blocks, bfree, bavail] = [m[4], m[5], m[6], m[7]].map(Number) as [
      number,
      number,
      number,
      number,
    ];
    out.push({
      node: m[1]!,
      volume: m[2] as VolumeKind,
      usedBytes: Number(m[3]) * 1024,
      fsSizeBytes: bsize * blocks,
      fsAvailBytes: bsize * bavail,
      fsUsedBytes: bsize * (blocks - bfree),
    });
  }
  return out;
}

/** One sample of every node's audit and raft volume (read-only mounts, as root to read any file). */
export async function measureDisk(
  spec: ClusterSpec,
  runtime: ContainerRuntime,
  image: string,
  now: () => number = Date.now,
): Promise<DiskSample> {
  const volumes: { volume: string; target: string; readOnly: boolean }[] = [];
  const lines: string[] = [];
  for (const node of spec.nodes) {
    for (const [kind, vol] of [
      ['audit', 'logs'],
      ['raft', 'data'],
    ] as const) {
      const target = `/v/${node.name}/${kind}`;
      volumes.push({ volume: volumeName(spec, node, vol), target, readOnly: true });
      lines.push(
        `echo "${node.name} ${kind} $(du -sk ${target} | cut -f1) $(stat -f -c '%S %b %f %a' ${target})"`,
      );
    }
  }
  const at = now();
  const r = await runtime.runImage(image, ['/bin/busybox'], ['sh', '-euc', lines.join('\n')], 60_000, {
    volumes,
    user: '0:0',
  });
  const parsed = parseDiskLines(r.output);
  if (r.exitCode !== 0 || parsed.length !== volumes.length)
    throw new RemoteError(
      'measuring the audit and raft volumes',
      `the helper exited ${r.exitCode}: ${r.output.trim().slice(0, 300)}`,
      '`docker volume ls` shows whether the volumes exist (`vaultctl up` makes them)',
    );
  return { at, volumes: parsed };
}

/** The agent's last samples, oldest first (at most two); empty when none. */
export function readDiskSamples(stateRoot: string): DiskSample[] {
  const p = join(stateRoot, AGENT_DIR, DISK_FILE);
  if (!existsSync(p)) return [];
  try {
    const doc = JSON.parse(readFileSync(p, 'utf8')) as { samples?: DiskSample[] };
    return Array.isArray(doc.samples) ? doc.samples : [];
  } catch {
    return [];
  }
}

/** Keeps `sample` and the one before it in the agent's status dir (0700, the file 0600). */
export function recordDiskSample(stateRoot: string, sample: DiskSample): DiskSample[] {
  mkdirSync(join(stateRoot, AGENT_DIR), { recursive: true, mode: 0o700 });
  const samples = [...readDiskSamples(stateRoot), sample].slice(-2);
  writeFileAtomic(join(stateRoot, AGENT_DIR, DISK_FILE), `${JSON.stringify({ samples }, null, 2)}\n`);
  return samples;
}
