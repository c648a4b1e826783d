/**
 * Least privilege for every container vaultctl runs, decided in one place: each kind's profile
 * (capabilities it keeps, where it writes in memory, its limits from `security.limits`), applied
 * to the rendered ContainerSpecs before the compose file is made from them, so `up`, the upgrade,
 * the seal migration and docker-compose all create the same hardened containers.
 *
 * Every kind: a fixed non-root uid:gid, every capability dropped, a read-only root filesystem,
 * `no-new-privileges`, memory (no swap beyond it) and pids limits. None of them needs a capability:
 * they listen on ports above 1024 and write only to their volumes and tmpfs. The Vault flavor
 * keeps IPC_LOCK for mlock (OpenBao has none to do).
 */
import { createHash } from 'node:crypto';
import type { ContainerSecurity, ContainerSpec, TmpfsMount } from '../runtime/port.js';
import { LABELS } from '../runtime/port.js';
import type { ClusterSpec } from '../spec/schema.js';
import { parseMemory, type SecuritySpec } from '../spec/security-schema.js';
import { agentStateRoot } from './agent.js';

type LimitsKind = keyof SecuritySpec['limits'];

/** The container kind label -> its limits in the spec. */
const KIND_LIMITS: Readonly<Record<string, LimitsKind>> = {
  node: 'node',
  unsealer: 'unsealer',
  endpoint: 'endpoint',
  monitoring: 'monitoring',
  kms: 'devKms',
  agent: 'agent',
};

/** uid and gid the containers run as: the spec's when vaultctl is root, else vaultctl's own. */
export interface ServiceIdentity {
  readonly uid: number;
  readonly gid: number;
}

export function serviceIdentity(spec: ClusterSpec): ServiceIdentity {
  const uid = typeof process.getuid === 'function' ? process.getuid() : 0;
  const gid = typeof process.getgid === 'function' ? process.getgid() : 0;
  if (uid !== 0) return { uid, gid };
  return { uid: spec.security.uid, gid: spec.security.gid };
}

/**
 * A tmpfs owned by the service uid. Docker gives a tmpfs the mode of the image's directory at that
 * path (a `mode=` option does not win over it: /tmp of a scratch image stays 1755), so only the
 * owner makes it writable for the unprivileged process (a snapshot restore writes its temp file
 * to /tmp).
 */
function tmpfs(target: string, size: string, id: ServiceIdentity): TmpfsMount {
  return { target, options: `rw,noexec,nosuid,nodev,size=${size},uid=${id.uid},gid=${id.gid}` };
}

/** Where each kind writes outside its volumes. */
function scratch(spec: ClusterSpec, kind: string, id: ServiceIdentity): TmpfsMount[] {
  switch (kind) {
    case 'node':
    case 'unsealer':
      return [tmpfs('/tmp', '64m', id)];
    case 'monitoring':
      // Prometheus' TSDB: disposable (the cluster's metrics of the last hours), in memory.
      return [tmpfs('/prometheus', '256m', id), tmpfs('/tmp', '16m', id)];
    case 'kms':
      // moto's working directory; its keys live in memory anyway.
      return [tmpfs('/tmp', '64m', id)];
    case 'agent':
      // The agent's state root: only the mount points of what it may see (agent.ts), 0700 as
      // the state dir's own check wants; its snapshots are staged in its writable agent/ dir.
      return [
        tmpfs('/tmp', '64m', id),
        {
          target: agentStateRoot(spec),
          options: `rw,noexec,nosuid,nodev,size=1m,mode=0700,uid=${id.uid},gid=${id.gid}`,
        },
      ];
    default:
      return [];
  }
}

/** The security profile of one container kind. */
export function securityProfile(spec: ClusterSpec, kind: string, id: ServiceIdentity): ContainerSecurity {
  const limits = spec.security.limits[KIND_LIMITS[kind] ?? 'node'];
  const memoryBytes = parseMemory(limits.memory);
  if (memoryBytes === undefined) throw new Error(`bug: unvalidated memory limit ${limits.memory}`);
  const vault = spec.flavor === 'vault' && (kind === 'node' || kind === 'unsealer');
  return {
    capAdd: vault ? ['IPC_LOCK'] : [],
    readOnlyRootfs: true,
    tmpfs: scratch(spec, kind, id),
    noNewPrivileges: true,
    memoryBytes,
    pidsLimit: limits.pids,
    owner: { uid: id.uid, gid: id.gid, helperImage: spec.security.helperImage },
  };
}

/**
 * The container with its kind's profile and user; its config hash covers them, so a container
 * created without them (an earlier release) is recreated by the next `up`.
 */
export function hardenContainer(spec: ClusterSpec, c: ContainerSpec, id: ServiceIdentity): ContainerSpec {
  const kind = c.labels[LABELS.kind] ?? 'node';
  const security = securityProfile(spec, kind, id);
  const user = `${id.uid}:${id.gid}`;
  // The dev KMS keeps its key in memory only: recreating it would lose the key the nodes' data is
  // sealed with. An earlier release's dev KMS container is kept as it is (same hash).
  if (kind === 'kms') return { ...c, user, security };
  const hash = createHash('sha256')
    .update(c.labels[LABELS.configHash] ?? '')
    .update(JSON.stringify({ user, security }))
    .digest('hex')
    .slice(0, 16);
  return { ...c, user, security, labels: { ...c.labels, [LABELS.configHash]: hash } };
}
