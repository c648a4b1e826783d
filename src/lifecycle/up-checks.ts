/**
 * What `up` refuses before it touches anything: names held by containers it does not manage, old
 * data without the key that opens it, an unreadable or too open AWS credentials file, busy ports.
 */
import { existsSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import type { Observed, UpPlan } from '../cluster/reconcile/plan.js';
import { errorMessage, UsageError } from '../errors.js';
import { LABELS } from '../runtime/port.js';
import type { ClusterSpec } from '../spec/schema.js';
import type { StateDir } from '../state/state-dir.js';
import type { RenderedCluster } from '../templates/rendered.js';

/** True when nothing listens on host:port. */
export function portIsFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ host, port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/** Names held by foreign containers; old data volumes without the static seal key. */
export function refuseConflicts(spec: ClusterSpec, state: StateDir, observed: Observed): void {
  const foreign = observed.foreignNames;
  if (foreign.length > 0) {
    throw new UsageError(
      'planning the cluster',
      `container name${foreign.length > 1 ? 's' : ''} ${foreign.join(', ')} already in use by containers vaultctl does not manage`,
      `remove or rename them (docker rm -f ${foreign.join(' ')}), or choose another cluster name (--cluster)`,
    );
  }
  // Data volumes of an earlier cluster, but no static seal key to open them: a new key would
  // make a cluster that can never unseal that data (the nodes retry forever).
  const oldData = observed.volumes.filter((v) => v.labels[LABELS.kind] === 'data');
  if (spec.seal.type === 'static' && oldData.length > 0 && !existsSync(state.sealKeyFile)) {
    throw new UsageError(
      'planning the cluster',
      `the data volumes ${oldData.map((v) => v.name).join(', ')} hold an earlier cluster's data, but ${state.sealKeyFile} does not exist: a new seal key could not unseal it`,
      'restore the state dir from its backup (it holds seal.key), or remove the old data with `vaultctl down --volumes`',
    );
  }
}

/**
 * Host ports of containers the plan starts must be free. A container that is recreated holds its
 * own port until it is removed: not a conflict.
 */
export async function checkPorts(
  rendered: RenderedCluster,
  plan: UpPlan,
  probe: (host: string, port: number) => Promise<boolean> = portIsFree,
): Promise<void> {
  const recreated = new Set(plan.steps.filter((s) => s.action === 'remove-container').map((s) => s.target));
  const toStart = new Set(
    plan.steps.filter((s) => s.action === 'start-container' && !recreated.has(s.target)).map((s) => s.target),
  );
  const busy: string[] = [];
  for (const c of rendered.containers) {
    if (!toStart.has(c.name)) continue;
    for (const p of c.ports) {
      if (!(await probe(p.hostIp, p.hostPort))) busy.push(`${p.hostIp}:${p.hostPort} (${c.hostname})`);
    }
  }
  if (busy.length > 0) {
    throw new UsageError(
      'starting the cluster',
      `port${busy.length > 1 ? 's' : ''} already in use: ${busy.join(', ')}`,
      'stop whatever listens there (ss -ltnp shows it), or choose other ports: apiPortBase in vaultctl.yaml, VAULTCTL_API_PORT or --api-port',
    );
  }
}

/**
 * seal.awskms.credentialsFile is bind-mounted into every node: a missing file would make Docker
 * create an empty directory in its place, and one others can read leaks the keys on this host.
 */
export function checkAwsCredentialsFile(spec: ClusterSpec): void {
  const file = spec.seal.type === 'awskms' ? spec.seal.awskms?.credentialsFile : undefined;
  if (!file) return;
  let mode: number;
  try {
    const st = statSync(file);
    if (!st.isFile()) throw new Error('not a regular file');
    mode = st.mode & 0o777;
  } catch (err) {
    throw new UsageError(
      'checking seal.awskms.credentialsFile',
      `${file}: ${errorMessage(err)}`,
      'give the absolute path of an AWS shared credentials file ([default] aws_access_key_id = ..., aws_secret_access_key = ...), mode 0600',
    );
  }
  if (mode & 0o077) {
    throw new UsageError(
      'checking seal.awskms.credentialsFile',
      `${file} has mode 0${mode.toString(8)}: other users of this host can read the AWS keys`,
      `chmod 600 ${file}`,
    );
  }
}
