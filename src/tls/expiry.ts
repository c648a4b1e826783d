/**
 * Certificate expiry as the nodes serve it: read from a TLS handshake (the peer certificate's
 * validity), so it works for clusters given by address as well as for managed ones, and judged by
 * pure functions (unit-tested): `health` warns within a threshold, the agent renews at two thirds
 * of a certificate's life.
 */
import { connect } from 'node:tls';

const DAY_MS = 24 * 3600 * 1000;

/** The certificate one node presents on its API port. */
export interface ServedCertificate {
  readonly node: string;
  readonly address: string;
  readonly subject?: string;
  readonly validFrom?: string;
  /** ISO 8601. */
  readonly validTo?: string;
  readonly daysLeft?: number;
  readonly fingerprint?: string;
  /** The handshake failed (node down, plain HTTP): nothing is known about its certificate. */
  readonly error?: string;
}

/**
 * The peer certificate of `address` (https://host:port). Only its validity and names are read:
 * nothing is sent, so the handshake does not need to trust the CA (a cluster given by address may
 * use one vaultctl does not hold).
 */
export function readServedCertificate(
  node: string,
  address: string,
  opts: { readonly now?: number; readonly timeoutMs?: number } = {},
): Promise<ServedCertificate> {
  const url = new URL(address);
  if (url.protocol !== 'https:')
    return Promise.resolve({ node, address, error: 'plain HTTP: the node serves no certificate' });
  const now = opts.now ?? Date.now();
  return new Promise((resolve) => {
    const socket = connect({
      host: url.hostname,
      port: Number(url.port || 443),
      servername: /^[\d.]+$/.test(url.hostname) ? undefined : url.hostname,
      rejectUnauthorized: false,
      timeout: opts.timeoutMs ?? 3000,
    });
    socket.once('secureConnect', () => {
      const c = socket.getPeerCertificate();
      socket.end();
      if (!c?.valid_to) {
        resolve({ node, address, error: 'the node presented no certificate' });
        return;
      }
      const validTo = new Date(c.valid_to);
      resolve({
        node,
        address,
        subject: c.subject?.CN ? `CN=${c.subject.CN}` : JSON.stringify(c.subject),
        validFrom: new Date(c.valid_from).toISOString(),
        validTo: validTo.toISOString(),
        daysLeft: Math.floor(((validTo.getTime() - now) / DAY_MS) * 10) / 10,
        fingerprint: c.fingerprint256,
      });
    });
    socket.once('error', (err) => resolve({ node, address, error: err.message }));
    socket.once('timeout', () => {
      socket.destroy();
      resolve({ node, address, error: 'TLS handshake timed out' });
    });
  });
}

/** "30d" -> 30. */
export function parseDays(text: string): number {
  const m = /^(\d+)d$/.exec(text);
  if (!m) throw new Error(`expected a number of days such as 30d, got ${JSON.stringify(text)}`);
  return Number(m[1]);
}

/** One warning per certificate that expires within `warnDays` (or has expired). */
export function expiryWarnings(
  certs: readonly ServedCertificate[],
  warnDays: number,
  now = Date.now(),
): string[] {
  const out: string[] = [];
  for (const c of certs) {
    if (!c.validTo) continue;
    const left = new Date(c.validTo).getTime() - now;
    const date = c.validTo.slice(0, 19).replace('T', ' ');
    if (left <= 0) out.push(`certificate of ${c.node} (${c.subject}) expired on ${date} UTC`);
    else if (left < warnDays * DAY_MS)
      out.push(
        `certificate of ${c.node} (${c.subject}) expires on ${date} UTC, within ${warnDays} days: the agent renews it (\`vaultctl tls rotate\` by hand)`,
      );
  }
  return out;
}

/**
 * A certificate is due for renewal once two thirds of its life have passed, or when it is within
 * the warning threshold (so that `health` never has to warn while the agent runs).
 */
export function renewalDue(
  validFrom: string | number | Date,
  validTo: string | number | Date,
  now: number,
  warnDays: number,
): boolean {
  const from = new Date(validFrom).getTime();
  const to = new Date(validTo).getTime();
  return now >= from + ((to - from) * 2) / 3 || to - now < warnDays * DAY_MS;
}
