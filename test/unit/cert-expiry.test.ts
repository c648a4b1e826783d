import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { transitCheckMs, transitRenewalDue } from '../../src/agent/renew-jobs.js';
import { expiryWarnings, parseDays, readServedCertificate, renewalDue } from '../../src/tls/expiry.js';

const DAY = 24 * 3600 * 1000;
const dir = mkdtempSync(join(tmpdir(), 'vctl-cert-unit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('renewalDue', () => {
  const from = Date.UTC(2026, 0, 1);
  const to = from + 90 * DAY;
  it('is not due before two thirds of the life', () => {
    expect(renewalDue(from, to, from + 59 * DAY, 0)).toBe(false);
  });
  it('is due at two thirds of the life', () => {
    expect(renewalDue(from, to, from + 60 * DAY, 0)).toBe(true);
  });
  it('is due within the warning threshold, whatever the fraction', () => {
    expect(renewalDue(from, to, from + 10 * DAY, 85)).toBe(true);
  });
});

describe('expiryWarnings', () => {
  const now = Date.UTC(2026, 5, 1);
  const cert = (node: string, days: number) => ({
    node,
    address: 'https://x',
    subject: `CN=${node}`,
    validTo: new Date(now + days * DAY).toISOString(),
  });
  it('names the node, subject and expiry date of a certificate inside the threshold only', () => {
    const w = expiryWarnings([cert('vault-1', 10), cert('vault-2', 100)], 30, now);
    expect(w).toHaveLength(1);
    expect(w[0]).toContain(
      'certificate of vault-1 (CN=vault-1) expires on 2026-06-11 00:00:00 UTC, within 30 days',
    );
  });
  it('says expired for a certificate past its end, and skips nodes that could not be asked', () => {
    const w = expiryWarnings(
      [cert('vault-3', -1), { node: 'vault-4', address: 'https://y', error: 'refused' }],
      30,
      now,
    );
    expect(w).toEqual(['certificate of vault-3 (CN=vault-3) expired on 2026-05-31 00:00:00 UTC']);
  });
  it('parses days and refuses anything else', () => {
    expect(parseDays('30d')).toBe(30);
    expect(() => parseDays('30h')).toThrow(/number of days/);
  });
});

describe('transit renewal timing', () => {
  it('is due once two thirds of the period have passed', () => {
    expect(transitRenewalDue(21, 60)).toBe(false);
    expect(transitRenewalDue(20, 60)).toBe(true);
  });
  it('looks a sixth of the period apart, between 1 s and 1 h', () => {
    expect(transitCheckMs(60)).toBe(10_000);
    expect(transitCheckMs(3)).toBe(1000);
    expect(transitCheckMs(7 * 86_400)).toBe(3_600_000);
  });
});

describe('readServedCertificate', () => {
  it('reads the validity of the certificate a TLS server presents (self-signed, 5 days)', async () => {
    const key = join(dir, 'key.pem');
    const cert = join(dir, 'cert.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        key,
        '-out',
        cert,
        '-days',
        '5',
        '-subj',
        '/CN=unit-node',
      ],
      { stdio: 'ignore' },
    );
    const server = createServer({ key: readFileSync(key), cert: readFileSync(cert) }, (_q, r) => r.end());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as { port: number }).port;
    try {
      const c = await readServedCertificate('n1', `https://127.0.0.1:${port}`);
      expect(c.subject).toBe('CN=unit-node');
      expect(c.daysLeft).toBeGreaterThanOrEqual(4.9);
      expect(c.daysLeft).toBeLessThanOrEqual(5);
      expect(expiryWarnings([c], 30)).toHaveLength(1);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
  it('reports an error, not a certificate, for a port nobody listens on and for plain HTTP', async () => {
    expect((await readServedCertificate('n2', 'https://127.0.0.1:1')).error).toBeTruthy();
    expect((await readServedCertificate('n3', 'http://127.0.0.1:1')).validTo).toBeUndefined();
  });
});
