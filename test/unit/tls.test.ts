/**
 * TLS material made with the real openssl into a temp state dir: a CA once, node certificates
 * with the right names, re-issued only when needed, keys 0600.
 */
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openCluster } from '../../src/cluster/running.js';
import { ExitCode, UsageError } from '../../src/errors.js';
import type { ContainerRuntime } from '../../src/runtime/port.js';
import { resolveSpec } from '../../src/spec/resolve.js';
import type { ClusterSpec } from '../../src/spec/schema.js';
import { StateDir } from '../../src/state/state-dir.js';
import { rotateTls } from '../../src/tls/rotate.js';
import {
  certIsCurrent,
  clientTlsFromEnv,
  clientTlsFromState,
  ensureTls,
  nodeSans,
  tlsPaths,
} from '../../src/tls/tls.js';
import { silentProgress } from '../helpers/progress.js';

let dir: string;
let state: StateDir;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vaultctl-tls-'));
  state = new StateDir(join(dir, 'alphapulse'));
  state.ensure();
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('ensureTls', () => {
  it('creates a CA and a certificate per node with its names, keys 0600', async () => {
    const { spec } = resolveSpec({});
    const res = await ensureTls(spec, state, silentProgress);
    expect(res.createdCa).toBe(true);
    expect(res.issued).toEqual(['vault-1', 'vault-2', 'vault-3']);
    const p = tlsPaths(state);
    expect(statSync(p.caKey).mode & 0o777).toBe(0o600);
    const ca = new X509Certificate(readFileSync(p.caCert));
    expect(ca.ca).toBe(true);
    for (const n of spec.nodes) {
      const cert = new X509Certificate(readFileSync(join(p.nodeDir(n), 'cert.pem')));
      expect(cert.checkIssued(ca)).toBe(true);
      expect(cert.subjectAltName).toContain(`DNS:${n.name}`);
      expect(cert.subjectAltName).toContain('IP Address:127.0.0.1');
      expect(statSync(join(p.nodeDir(n), 'key.pem')).mode & 0o777).toBe(0o600);
      expect(readFileSync(join(p.nodeDir(n), 'ca.pem'), 'utf8')).toBe(readFileSync(p.caCert, 'utf8'));
    }
  });

  it('a second run issues nothing and never replaces the CA; force re-issues node certificates only', async () => {
    const { spec } = resolveSpec({});
    await ensureTls(spec, state, silentProgress);
    const p = tlsPaths(state);
    const caBefore = readFileSync(p.caCert, 'utf8');
    const certBefore = readFileSync(join(p.nodeDir('vault-1'), 'cert.pem'), 'utf8');
    expect(await ensureTls(spec, state, silentProgress)).toEqual({ createdCa: false, issued: [] });
    const forced = await ensureTls(spec, state, silentProgress, { force: true });
    expect(forced.createdCa).toBe(false);
    expect(forced.issued).toEqual(['vault-1', 'vault-2', 'vault-3']);
    expect(readFileSync(p.caCert, 'utf8')).toBe(caBefore);
    expect(readFileSync(join(p.nodeDir('vault-1'), 'cert.pem'), 'utf8')).not.toBe(certBefore);
  });

  it('re-issues a certificate whose names no longer match (a new bind address)', async () => {
    await ensureTls(resolveSpec({}).spec, state, silentProgress);
    const wider = resolveSpec({ bindAddress: '192.0.2.10' }).spec;
    const res = await ensureTls(wider, state, silentProgress);
    expect(res.issued).toEqual(['vault-1', 'vault-2', 'vault-3']);
    const cert = new X509Certificate(readFileSync(join(tlsPaths(state).nodeDir('vault-2'), 'cert.pem')));
    expect(cert.subjectAltName).toContain('IP Address:192.0.2.10');
  });

  it('issues a client certificate for mutual TLS and gives it to clients', async () => {
    const { spec } = resolveSpec({ tls: { requireClientCert: true } });
    const res = await ensureTls(spec, state, silentProgress);
    expect(res.issued).toContain('client');
    const material = clientTlsFromState(spec, state)!;
    expect(material.ca).toContain('BEGIN CERTIFICATE');
    expect(material.cert).toContain('BEGIN CERTIFICATE');
    expect(material.key).toContain('PRIVATE KEY');
  });

  it('does nothing with TLS off, and clients then get no TLS material', async () => {
    const { spec } = resolveSpec({ tls: { enabled: false } });
    expect(await ensureTls(spec, state, silentProgress)).toEqual({ createdCa: false, issued: [] });
    expect(clientTlsFromState(spec, state)).toBeUndefined();
  });
});

describe('certIsCurrent', () => {
  it('is false for a certificate from another CA', async () => {
    const { spec } = resolveSpec({});
    await ensureTls(spec, state, silentProgress);
    const other = new StateDir(join(dir, 'other'));
    other.ensure();
    await ensureTls(resolveSpec({ name: 'other' }).spec, other, silentProgress);
    const cert = readFileSync(join(tlsPaths(state).nodeDir('vault-1'), 'cert.pem'), 'utf8');
    const sans = nodeSans(spec, spec.nodes[0]!);
    expect(certIsCurrent(cert, readFileSync(tlsPaths(state).caCert, 'utf8'), sans)).toBe(true);
    expect(certIsCurrent(cert, readFileSync(tlsPaths(other).caCert, 'utf8'), sans)).toBe(false);
    // 30 days before expiry counts as not current.
    expect(
      certIsCurrent(cert, readFileSync(tlsPaths(state).caCert, 'utf8'), sans, Date.now() + 380 * 86400_000),
    ).toBe(false);
  });
});

describe('clientTlsFromEnv', () => {
  it('reads BAO_CACERT, falls back to VAULT_CACERT, and fails clearly on a missing file', async () => {
    await ensureTls(resolveSpec({}).spec, state, silentProgress);
    const ca = tlsPaths(state).caCert;
    expect(clientTlsFromEnv({ VAULT_CACERT: ca })?.ca).toContain('BEGIN CERTIFICATE');
    expect(clientTlsFromEnv({})).toBeUndefined();
    expect(() => clientTlsFromEnv({ BAO_CACERT: join(dir, 'nope.pem') })).toThrow(/nope\.pem/);
  });
});

describe('spec rules for TLS', () => {
  it('is on by default; off gives a warning; mutual TLS without TLS is refused', () => {
    expect(resolveSpec({}).spec.tls.enabled).toBe(true);
    expect(resolveSpec({ tls: { enabled: false } }).warnings.join('\n')).toContain('TLS is off');
    expect(() => resolveSpec({ tls: { enabled: false, requireClientCert: true } })).toThrow(/problem/);
  });
});

describe('rotateTls refusals', () => {
  // Any use of the runtime or a node would throw: the refusals come from the spec and state dir.
  const untouched = (spec: ClusterSpec) =>
    openCluster({
      spec,
      state,
      runtime: () =>
        new Proxy({} as ContainerRuntime, {
          get: (_t, op) => () => {
            throw new Error(`runtime.${String(op)} called`);
          },
        }),
      connect: () => {
        throw new Error('a node was contacted');
      },
    });

  it('a cluster with TLS off: a usage error (exit 1), nothing touched', async () => {
    const { spec } = resolveSpec({ tls: { enabled: false } });
    const err = await rotateTls(untouched(spec), { progress: silentProgress }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).exitCode).toBe(ExitCode.usage);
    expect((err as UsageError).render()).toBe(
      'Error rotating TLS certificates: TLS is off for this cluster\nhint: turn it on (tls.enabled: true) and run `vaultctl up`',
    );
  });

  it('a state dir without the cluster CA: a usage error (exit 1), nothing touched', async () => {
    const err = await rotateTls(untouched(resolveSpec({}).spec), { progress: silentProgress }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).message).toBe('the cluster CA is missing from the state dir');
  });
});
