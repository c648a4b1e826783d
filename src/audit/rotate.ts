/**
 * Audit log rotation without a restart and without a lost line.
 *
 * OpenBao 2.7.2's file device keeps writing to its open file when that file is renamed; on SIGHUP
 * it logs "reloading file audit backend", closes the file (under the lock every write holds) and
 * the next entry creates the file again under its configured name. So, per node:
 *
 *   1. rename `audit.log` to `audit-<time>.log` (same inode: entries keep landing in it);
 *   2. SIGHUP the node and wait for its "reloading file audit backend" line: from then on the
 *      renamed file is closed and complete;
 *   3. compress it to `audit-<time>.log.gz` (owner and mode kept), remove the plain copy;
 *   4. apply retention: the newest `keep` compressed files younger than `retentionDays` stay.
 *
 * A node that does not log the reload within the wait gets its file renamed back (the same inode
 * it still writes to), so a failed rotation leaves the volume as it was.
 *
 * The files live in the node's audit volume; the node images hold no tools, so a throwaway
 * container of the helper image (busybox, see toolbox.ts) mounts the volume and does the file work.
 * `rotateAudit` is one pass of the agent's rotation job and what `vaultctl audit rotate` runs.
 */

import { parseDuration } from '../cluster/poll.js';
import type { ManagedCluster, ManagedNode, NodeHandle } from '../cluster/running.js';
import { CancelledError, RemoteError, UsageError } from '../errors.js';
import type { ContainerRuntime } from '../runtime/port.js';
import { volumeName } from '../spec/names.js';
import type { ClusterSpec } from '../spec/schema.js';
import { ensureToolboxImage } from './toolbox.js';

export interface RotationPolicy {
  /** Rotate when the live file reaches this many bytes. */
  readonly maxBytes: number;
  /** Rotate when the live file's first entry is this old (ms). */
  readonly maxAgeMs: number;
  /** Compressed files kept at most. */
  readonly keep: number;
  /** Compressed files older than this are removed (days). */
  readonly retentionDays: number;
}

const SIZE_UNITS: Record<string, number> = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 };

/** "256MiB" -> bytes; undefined when malformed. */
export function parseSize(text: string): number | undefined {
  const m = /^(\d+)(B|KiB|MiB|GiB)$/.exec(text.trim());
  return m ? Number(m[1]) * SIZE_UNITS[m[2]!]! : undefined;
}

export function policyOf(spec: ClusterSpec): RotationPolicy {
  const a = spec.audit;
  return {
    maxBytes: parseSize(a.rotateSize) ?? 256 * 1024 ** 2,
    maxAgeMs: parseDuration(a.rotateAge) ?? 24 * 3600_000,
    keep: a.keep,
    retentionDays: Number(/^(\d+)d$/.exec(a.retention)?.[1] ?? 90),
  };
}

/** `audit.log` at `now` -> `audit-2026-12-08T01-02-03-004Z.log` (compressed: + `.gz`). */
export function rotatedName(file: string, now: Date): string {
  const dot = file.lastIndexOf('.');
  const [stem, ext] = dot > 0 ? [file.slice(0, dot), file.slice(dot)] : [file, ''];
  return `${stem}-${now.toISOString().replace(/[:.]/g, '-')}${ext}`;
}

/** The time a rotated (compressed) file was cut, from its name; undefined for other files. */
export function rotatedAt(file: string, name: string): Date | undefined {
  const dot = file.lastIndexOf('.');
  const [stem, ext] = dot > 0 ? [file.slice(0, dot), file.slice(dot)] : [file, ''];
  if (!name.startsWith(`${stem}-`) || !name.endsWith(`${ext}.gz`)) return undefined;
  const t = name.slice(stem.length + 1, name.length - ext.length - 3);
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2})-(\d{2})-(\d{2})-(\d{3})Z$/.exec(t);
  return m ? new Date(`${m[1]}T${m[2]}:${m[3]}:${m[4]}.${m[5]}Z`) : undefined;
}

/** The compressed files retention removes: beyond the newest `keep`, or older than the retention. */
export function retentionPlan(
  file: string,
  names: readonly string[],
  now: Date,
  policy: RotationPolicy,
): string[] {
  const rotated = names
    .map((n) => ({ n, at: rotatedAt(file, n) }))
    .filter((x): x is { n: string; at: Date } => x.at !== undefined)
    .sort((a, b) => b.at.getTime() - a.at.getTime());
  const oldest = now.getTime() - policy.retentionDays * 86_400_000;
  return rotated.filter((x, i) => i >= policy.keep || x.at.getTime() < oldest).map((x) => x.n);
}

/** Why the live file is due, or undefined. */
export function rotationDue(
  live: { size: number; firstEntry?: Date | undefined } | undefined,
  now: Date,
  policy: RotationPolicy,
): string | undefined {
  if (!live || live.size === 0) return undefined;
  if (live.size >= policy.maxBytes) return `size ${live.size} >= ${policy.maxBytes} bytes`;
  if (live.firstEntry && now.getTime() - live.firstEntry.getTime() >= policy.maxAgeMs)
    return `first entry ${live.firstEntry.toISOString()} older than ${Math.round(policy.maxAgeMs / 1000)} s`;
  return undefined;
}

export interface NodeRotation {
  readonly node: string;
  /** The compressed file made, when rotated. */
  readonly rotated?: string;
  /** Why it rotated, or why not. */
  readonly reason: string;
  readonly liveBytes: number;
  /** Compressed files removed by retention. */
  readonly removed: readonly string[];
}

export interface RotateOptions {
  readonly signal?: AbortSignal | undefined;
  /** Rotate whatever the size and age (a non-empty file). */
  readonly force?: boolean;
  /** Only these nodes (default: every node). */
  readonly nodes?: readonly string[];
  readonly policy?: RotationPolicy;
  readonly now?: () => Date;
  /** How long to wait for a node's reload line (default 15 s). */
  readonly reloadTimeoutMs?: number;
}

const MOUNT = '/auditvol';

/** `sh -c script` in the helper, with the node's audit volume at /auditvol; fails on a non-zero exit. */
async function helper(
  runtime: ContainerRuntime,
  image: string,
  volume: string,
  script: string,
  doing: string,
): Promise<string> {
  const r = await runtime.runImage(image, ['/bin/busybox'], ['sh', '-euc', script], 120_000, {
    volumes: [{ volume, target: MOUNT }],
    user: '0:0',
  });
  if (r.exitCode !== 0)
    throw new RemoteError(
      doing,
      `the audit helper exited ${r.exitCode}: ${r.output.trim().slice(0, 300)}`,
      "a full volume fails this way: free space on the node's audit volume and run it again",
    );
  return r.output;
}

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** gzip each closed file beside itself (owner and mode kept); a failure leaves no partial .gz. */
function compressScript(files: readonly string[]): string {
  const lines = [`cd ${MOUNT}`];
  for (const f of files) {
    const tmp = q(`.${f}.gz.tmp`);
    lines.push(
      `owner=$(stat -c '%u:%g' ${q(f)}); mode=$(stat -c '%a' ${q(f)})`,
      `gzip -c ${q(f)} > ${tmp} || { rm -f ${tmp}; exit 1; }`,
      `chown "$owner" ${tmp}; chmod "$mode" ${tmp}`,
      `mv ${tmp} ${q(`${f}.gz`)}`,
      `rm ${q(f)}`,
    );
  }
  return lines.join('\n');
}

/** Waits for "reloading file audit backend" logged at or after `since`. */
async function waitReload(
  node: NodeHandle,
  since: number,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (signal?.aborted) throw new CancelledError(`rotating the audit log of ${node.name}`);
    for (const line of (await node.logs(200)).split('\n')) {
      const m = /^(\S+Z) \[INFO\]\s+audit: reloading file audit backend/.exec(line);
      if (m && Date.parse(m[1]!) >= since - 1000) return true;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

async function rotateNode(
  spec: ClusterSpec,
  node: ManagedNode,
  runtime: ContainerRuntime,
  image: string,
  opts: RotateOptions & { policy: RotationPolicy; now: () => Date },
): Promise<NodeRotation> {
  const file = spec.audit.file;
  const volume = volumeName(spec, node.spec, 'logs');
  const doing = `rotating the audit log of ${node.name}`;
  const listing = await helper(
    runtime,
    image,
    volume,
    `cd ${MOUNT}; if [ -f ${q(file)} ]; then stat -c '%s' ${q(file)}; head -c 120 ${q(file)}; echo; else echo 0; echo; fi; echo '--'; ls -1`,
    doing,
  );
  const [head = '', rest = ''] = listing.split('\n--\n');
  const [sizeLine = '0', firstLine = ''] = head.split('\n');
  const size = Number(sizeLine.trim()) || 0;
  const time = /"time":"([^"]+)"/.exec(firstLine)?.[1];
  const names = rest.split('\n').filter(Boolean);
  const now = opts.now();
  const due =
    opts.force && size > 0
      ? 'forced'
      : rotationDue({ size, firstEntry: time ? new Date(time) : undefined }, now, opts.policy);
  let rotated: string | undefined;
  if (due) {
    const plain = rotatedName(file, now);
    await helper(runtime, image, volume, `cd ${MOUNT}; mv ${q(file)} ${q(plain)}`, doing);
    const hupAt = Date.now();
    await node.kill('SIGHUP');
    if (!(await waitReload(node, hupAt, opts.reloadTimeoutMs ?? 15_000, opts.signal))) {
      // Still writing to the renamed inode: give it back its name, nothing is lost.
      await helper(runtime, image, volume, `cd ${MOUNT}; mv ${q(plain)} ${q(file)}`, doing);
      throw new RemoteError(
        doing,
        `${node.name} did not log "reloading file audit backend" after SIGHUP; the file keeps its name`,
        `\`docker logs\` of the node shows whether it reloads; a HashiCorp Vault release with the known SIGHUP issue needs a restart to reopen its file`,
      );
    }
    rotated = `${plain}.gz`;
    names.push(plain);
  }
  // Every closed, renamed file still plain (this one, or one a full volume kept from compressing).
  const plainFiles = names.filter((n) => rotatedAt(file, `${n}.gz`) && !names.includes(`${n}.gz`));
  // A renamed file left by an interrupted pass may still be open in the node: reopen first.
  const closed =
    plainFiles.length > 0 &&
    (rotated !== undefined ||
      (await (async () => {
        const at = Date.now();
        await node.kill('SIGHUP');
        return waitReload(node, at, opts.reloadTimeoutMs ?? 15_000, opts.signal);
      })()));
  if (closed) {
    try {
      await helper(runtime, image, volume, compressScript(plainFiles), doing);
    } catch (err) {
      throw new RemoteError(
        doing,
        `${(err as Error).message}${rotated ? ` (the live file was rotated: ${rotated.replace(/\.gz$/, '')} stays uncompressed)` : ''}`,
        "free space on the node's audit volume; the next `vaultctl audit rotate` compresses what is left",
        { cause: err },
      );
    }
    for (const p of plainFiles) names.push(`${p}.gz`);
  }
  const removed = retentionPlan(file, names, now, opts.policy);
  if (removed.length > 0)
    await helper(runtime, image, volume, `cd ${MOUNT}; rm -f ${removed.map(q).join(' ')}`, doing);
  return {
    node: node.name,
    ...(rotated ? { rotated } : {}),
    reason: due ?? 'not due',
    liveBytes: rotated ? 0 : size,
    removed,
  };
}

/** One rotation pass over the cluster's nodes, one node at a time. */
export async function rotateAudit(
  cluster: ManagedCluster,
  runtime: ContainerRuntime,
  opts: RotateOptions = {},
): Promise<NodeRotation[]> {
  const spec = cluster.spec;
  if (!spec.audit.enabled || spec.flavor !== 'openbao')
    throw new UsageError(
      'rotating the audit logs',
      spec.audit.enabled ? 'rotation is implemented for OpenBao file devices' : 'audit.enabled is false',
      'HashiCorp Vault clusters rotate their audit file with their own tooling (logrotate + SIGHUP)',
    );
  const image = await ensureToolboxImage(runtime);
  const policy = opts.policy ?? policyOf(spec);
  const now = opts.now ?? (() => new Date());
  const out: NodeRotation[] = [];
  for (const node of cluster.nodes) {
    if (opts.nodes && !opts.nodes.includes(node.name)) continue;
    if (opts.signal?.aborted) throw new CancelledError('rotating the audit logs');
    out.push(await rotateNode(spec, node, runtime, image, { ...opts, policy, now }));
  }
  return out;
}
