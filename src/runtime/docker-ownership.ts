/**
 * Hands what a container reads and writes to the unprivileged user it runs as, just before it is
 * created: its named volumes (a one-shot root helper container does the chown, since volumes made
 * by an earlier release, or new empty ones, belong to root) and, when vaultctl runs as root, the
 * host files and directories it bind-mounts (TLS keys, seal key: they stay 0600 in 0700 dirs, now
 * owned by the service uid, which root can still read and replace).
 */
import { chownSync, existsSync, lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { RemoteError } from '../errors.js';
import { chownScript, helperTarget } from './chown-script.js';
import { demuxDockerLog } from './docker-spec.js';
import type { ContainerSpec } from './port.js';

/** chown -R on the host; symlinks are changed themselves, never followed. */
function chownTree(path: string, uid: number, gid: number): void {
  const st = lstatSync(path);
  if (st.uid !== uid || st.gid !== gid) chownSync(path, uid, gid);
  if (st.isDirectory()) for (const e of readdirSync(path)) chownTree(join(path, e), uid, gid);
}

/** True when vaultctl can chown host files (root), false otherwise (then the uid is its own). */
function hostIsRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

export async function handOverMounts(docker: Docker, spec: ContainerSpec): Promise<void> {
  const owner = spec.security?.owner;
  if (!owner) return;
  if (hostIsRoot()) {
    for (const m of spec.mounts) {
      // A missing source is Docker's to report (or to create); nothing to hand over yet.
      if (m.type === 'bind' && existsSync(m.source)) chownTree(m.source, owner.uid, owner.gid);
    }
  }
  const volumes = spec.mounts.filter((m) => m.type === 'volume');
  if (volumes.length === 0) return;
  const doing = `handing the volumes of ${spec.name} to uid ${owner.uid}`;
  let container: Docker.Container | undefined;
  try {
    container = await docker.createContainer({
      Image: owner.helperImage,
      User: '0:0',
      Entrypoint: ['/bin/busybox', 'sh', '-c', chownScript(owner.uid, owner.gid, volumes.length)],
      // Not the cluster's label: `up` must never see it as one of the cluster's containers.
      Labels: { 'io.vaultctl.kind': 'volume-owner', 'io.vaultctl.owner-of': spec.name },
      HostConfig: {
        NetworkMode: 'none',
        Mounts: volumes.map((m, i) => ({ Type: 'volume' as const, Source: m.name, Target: helperTarget(i) })),
        // Root, but only with what chown -R needs.
        CapDrop: ['ALL'],
        CapAdd: ['CHOWN', 'DAC_OVERRIDE', 'FOWNER'],
        ReadonlyRootfs: true,
        SecurityOpt: ['no-new-privileges:true'],
        Memory: 64 * 1024 * 1024,
        PidsLimit: 16,
      },
    });
    await container.start();
    const waited = (await container.wait()) as { StatusCode: number };
    if (waited.StatusCode !== 0) {
      const buf = (await container.logs({ stdout: true, stderr: true, follow: false })) as unknown as Buffer;
      const out = demuxDockerLog(Buffer.isBuffer(buf) ? buf : Buffer.from(String(buf)));
      throw new Error(`chown exited with ${waited.StatusCode}: ${out.trim().slice(0, 400)}`);
    }
  } catch (err) {
    const e = err as { statusCode?: number; json?: { message?: string } | null; message?: string };
    const cause = e.json?.message ?? e.message ?? String(err);
    throw new RemoteError(
      doing,
      cause.trim(),
      e.statusCode === 404 && /image/i.test(cause)
        ? `build the helper image: bash scripts/setup.sh, or vaultctl image build --busybox --tag ${owner.helperImage}`
        : undefined,
      { cause: err },
    );
  } finally {
    await container?.remove({ force: true }).catch(() => undefined);
  }
}
