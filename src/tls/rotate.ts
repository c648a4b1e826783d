/**
 * `rotateTls`: new node certificates from the same CA, loaded by each node in turn without losing
 * quorum. Each node first gets SIGHUP (OpenBao and Vault reload listener certificates on it); a
 * node that still presents its old certificate afterwards is restarted, alone, and waited for.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:tls';
import type { Progress } from '../cluster/events.js';
import { pollUntil } from '../cluster/poll.js';
import type { ManagedCluster } from '../cluster/running.js';
import { RemoteError, UsageError } from '../errors.js';
import { waitForHealth } from '../health/health.js';
import { clientTlsFromState, ensureTls, tlsPaths } from './tls.js';

/** The SHA-256 fingerprint of the certificate a node presents on its API port. */
export function presentedFingerprint(address: string, ca: string, servername: string): Promise<string> {
  const url = new URL(address);
  return new Promise((resolve, reject) => {
    const socket = connect(
      { host: url.hostname, port: Number(url.port), ca, servername, timeout: 3000 },
      () => {
        const fp = socket.getPeerCertificate().fingerprint256;
        socket.end();
        resolve(fp);
      },
    );
    socket.on('error', reject);
    socket.on('timeout', () => socket.destroy(new Error('TLS handshake timed out')));
  });
}

export interface RotateResult {
  readonly nodes: readonly { name: string; before: string; after: string; how: 'reload' | 'restart' }[];
}

/**
 * `rotateTls`: new node certificates from the same CA, loaded by one node after the other (SIGHUP,
 * a restart of that node alone if the reload does not take), the cluster healthy before the next.
 */
export async function rotateTls(
  cluster: ManagedCluster,
  deps: { readonly progress: Progress; readonly signal?: AbortSignal | undefined },
): Promise<RotateResult> {
  const doing = 'rotating TLS certificates';
  const { spec, state } = cluster;
  // Both refusals are local: the spec and the state dir say so before any node is asked.
  if (!spec.tls.enabled)
    throw new UsageError(
      doing,
      'TLS is off for this cluster',
      'turn it on (tls.enabled: true) and run `vaultctl up`',
    );
  const tls = clientTlsFromState(spec, state);
  if (!tls)
    throw new UsageError(
      doing,
      'the cluster CA is missing from the state dir',
      'run `vaultctl up` to create it',
    );
  const before = new Map<string, string>();
  for (const n of cluster.nodes) before.set(n.name, await presentedFingerprint(n.address, tls.ca, n.name));

  await ensureTls(spec, state, deps.progress, { force: true });
  const token = await cluster.token();
  const nodes: { name: string; before: string; after: string; how: 'reload' | 'restart' }[] = [];
  for (const n of cluster.nodes) {
    const want = new X509Certificate(readFileSync(join(tlsPaths(state).nodeDir(n.spec), 'cert.pem')))
      .fingerprint256;
    const presents = () => presentedFingerprint(n.address, tls.ca, n.name).catch(() => '');
    deps.progress.step(`reloading the certificate of ${n.name} (SIGHUP)`);
    await n.kill('SIGHUP');
    let how: 'reload' | 'restart' = 'reload';
    const reloaded = await pollUntil(async () => ((await presents()) === want ? true : undefined), {
      what: `${n.name} to present its new certificate`,
      timeoutMs: 10_000,
      intervalMs: 250,
      signal: deps.signal,
    }).catch(() => false);
    if (!reloaded) {
      how = 'restart';
      deps.progress.step(`restarting ${n.name} to load its new certificate`);
      await n.restart(10);
      await pollUntil(async () => ((await presents()) === want ? true : undefined), {
        what: `${n.name} to present its new certificate after a restart`,
        timeoutMs: 60_000,
        signal: deps.signal,
      });
    }
    // One node at a time: the next one only once the cluster is whole again.
    const h = await waitForHealth(cluster.nodes, spec.nodes.length, {
      connect: cluster.connector,
      token,
      tls,
      waitMs: 60_000,
      signal: deps.signal,
    });
    if (h.verdict !== 'healthy') {
      throw new RemoteError(
        doing,
        `the cluster is ${h.verdict} after ${n.name} (${h.reasons.join('; ')})`,
        'stopped before the next node; `vaultctl health` shows the cluster',
      );
    }
    nodes.push({ name: n.name, before: before.get(n.name)!, after: want, how });
    deps.progress.done(`${n.name}: new certificate (${how})`);
  }
  return { nodes };
}
