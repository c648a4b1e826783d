/**
 * The agent's renewal jobs, level-triggered: each run compares an expiry with now and acts only
 * when it is due, so a run that finds nothing due is a no-op and a missed run costs nothing.
 *
 *   certificates   the certificates the nodes serve (read from the TLS handshake), renewed through
 *                  the rotation path (`rotateTls`: one node after the other, SIGHUP, the cluster
 *                  healthy before the next) at two thirds of their life or within tls.expiryWarning.
 *   transit-token  the nodes' token on the cluster's own unsealer, renewed (renew-accessor) once two
 *                  thirds of its period have passed, so `up` need not run once per period.
 */
import type { Progress } from '../cluster/events.js';
import type { ManagedCluster } from '../cluster/running.js';
import { RemoteError } from '../errors.js';
import { unsealerAddress, usesUnsealer } from '../spec/names.js';
import { parseDurationMs, parseSchedule } from '../spec/schedule.js';
import type { ClusterSpec } from '../spec/schema.js';
import type { StateDir } from '../state/state-dir.js';
import { parseDays, readServedCertificate, renewalDue } from '../tls/expiry.js';
import { rotateTls } from '../tls/rotate.js';
import { renewTransitToken, transitTokenTtl } from '../unsealer/unsealer.js';
import type { Logger } from './log.js';
import type { Job } from './runner.js';

export const CERT_JOB = 'certificates';
export const TRANSIT_JOB = 'transit-token';

/** How often the transit job looks: a sixth of the period (1 s to 1 h), so it renews well before the end. */
export function transitCheckMs(periodSeconds: number): number {
  return Math.min(3_600_000, Math.max(1000, Math.floor((periodSeconds * 1000) / 6)));
}

/** Due once two thirds of the period have passed (a third or less of it left). */
export function transitRenewalDue(ttlSeconds: number, periodSeconds: number): boolean {
  return ttlSeconds * 3 <= periodSeconds;
}

function progressOf(log: Logger): Progress {
  return {
    step: (m) => log.info(m, { job: CERT_JOB }),
    done: (m) => log.info(m, { job: CERT_JOB }),
    info: (m) => log.info(m, { job: CERT_JOB }),
    warn: (m) => log.warn(m, { job: CERT_JOB }),
    debug: (m) => log.debug(m, { job: CERT_JOB }),
  };
}

/** The renewal jobs this spec needs: none without TLS, no transit job without the unsealer. */
export function renewalJobs(deps: {
  readonly cluster: ManagedCluster;
  readonly spec: ClusterSpec;
  readonly state: StateDir;
  readonly log: Logger;
  readonly now?: () => number;
}): Job[] {
  const { cluster, spec, state, log } = deps;
  const now = deps.now ?? Date.now;
  const jobs: Job[] = [];
  if (spec.tls.enabled) {
    const warnDays = parseDays(spec.tls.expiryWarning);
    jobs.push({
      name: CERT_JOB,
      schedule: parseSchedule(`@every ${spec.tls.renewCheck}`),
      jitterMs: 0,
      timeoutMs: 15 * 60_000,
      run: async (signal) => {
        const served = await Promise.all(cluster.nodes.map((n) => readServedCertificate(n.name, n.address)));
        const unknown = served.filter((c) => !c.validTo);
        // A node that cannot be asked is not renewed blind: the rotation needs the whole cluster.
        if (unknown.length > 0)
          throw new RemoteError(
            'checking the node certificates',
            unknown.map((c) => `${c.node}: ${c.error}`).join('; '),
            'the next run tries again; `vaultctl health` shows the cluster',
          );
        const due = served.filter((c) => renewalDue(c.validFrom!, c.validTo!, now(), warnDays));
        if (due.length === 0) {
          const first = served.reduce((a, b) => (a.validTo! < b.validTo! ? a : b));
          log.info('certificates not due', {
            job: CERT_JOB,
            earliestExpiry: first.validTo,
            node: first.node,
          });
          return;
        }
        log.info('renewing the node certificates', {
          job: CERT_JOB,
          due: due.map((c) => `${c.node} (expires ${c.validTo})`).join(', '),
        });
        const res = await rotateTls(cluster, { progress: progressOf(log), signal });
        log.info('certificates renewed', {
          job: CERT_JOB,
          nodes: res.nodes.map((n) => `${n.name}:${n.how}`).join(', '),
        });
      },
    });
  }
  if (usesUnsealer(spec)) {
    const period = spec.seal.transit?.tokenPeriod ?? '24h';
    const periodS = (parseDurationMs(period) ?? 86_400_000) / 1000;
    const api = cluster.connector({ address: unsealerAddress(spec), timeoutMs: 5000, tls: cluster.tls });
    const doing = "renewing the nodes' transit token";
    jobs.push({
      name: TRANSIT_JOB,
      schedule: parseSchedule(`@every ${transitCheckMs(periodS) / 1000}s`),
      jitterMs: 0,
      timeoutMs: 60_000,
      run: async () => {
        const t = await transitTokenTtl(state, api);
        if (!t)
          throw new RemoteError(
            doing,
            "the nodes' transit token is gone (expired or revoked) or the state dir has none",
            '`vaultctl up` issues a new one and recreates the nodes with it',
          );
        if (!transitRenewalDue(t.ttl, t.period || periodS)) {
          log.info('transit token not due', { job: TRANSIT_JOB, ttlSeconds: t.ttl, periodSeconds: t.period });
          return;
        }
        if (!(await renewTransitToken(state, api)))
          throw new RemoteError(
            doing,
            'the unsealer no longer knows the token',
            '`vaultctl up` issues a new one',
          );
        const after = await transitTokenTtl(state, api);
        log.info('transit token renewed', { job: TRANSIT_JOB, ttlBefore: t.ttl, ttlAfter: after?.ttl });
      },
    });
  }
  return jobs;
}
