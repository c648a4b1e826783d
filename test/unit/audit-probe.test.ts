import { describe, expect, it } from 'vitest';
import { AUDIT_PROBE_PATH, auditDeviceCause, probeAuditPath } from '../../src/audit/probe.js';
import type { NodeHealth } from '../../src/health/health.js';
import { judgeHealth } from '../../src/health/health.js';
import { resolveSpec } from '../../src/spec/resolve.js';
import { renderHaproxyConfig } from '../../src/templates/haproxy.js';
import type { VaultNode } from '../../src/vault/port.js';
import { VaultRequestError } from '../../src/vault/port.js';

// As OpenBao 2.7.2 logs it with its audit volume full (a 3 MiB tmpfs), one request.
const FULL = [
  '2026-12-08T00:40:40.037Z [INFO]  core: enabled credential backend: namespace="" path=approle/ type=approle version=""',
  '2026-12-08T00:40:51.840Z [ERROR] audit: backend failed to log request: backend=file/ error="write /openbao/logs/audit.log: file already closed"',
  '2026-12-08T00:40:51.840Z [ERROR] core: failed to audit request: path=auth/approle/login',
  '  error=',
  '  | 1 error occurred:',
  '  | \\t* no audit backend succeeded in logging the request',
  '  | ',
].join('\n');

describe('auditDeviceCause', () => {
  it('names the device and its error', () => {
    expect(auditDeviceCause(FULL)).toBe('file/: write /openbao/logs/audit.log: file already closed');
  });
  it('says no device succeeded when no device line is left in the tail', () => {
    expect(auditDeviceCause(FULL.split('\n').slice(2).join('\n'))).toBe(
      'no audit device succeeded in logging the request',
    );
  });
  it('finds nothing in the log of a node that audits', () => {
    expect(auditDeviceCause(FULL.split('\n')[0]!)).toBeUndefined();
  });
});

describe('probeAuditPath', () => {
  const answering = (status: number) =>
    ({
      call: async (_m: string, path: string) => {
        expect(path).toBe(AUDIT_PROBE_PATH);
        throw new VaultRequestError('https://n:1', 'probing', 'http', {
          status,
          errors: [status === 500 ? 'internal error' : 'permission denied'],
        });
      },
    }) as unknown as VaultNode;
  it('403 (audited, refused) is a working audit path; 500 is a failing one', async () => {
    expect(await probeAuditPath(answering(403))).toBe('ok');
    expect(await probeAuditPath(answering(500))).toBe('failing');
  });
  it('a 500 that is not the audit failure (a standby with no active node to forward to) is not one', async () => {
    // Seen with quorum lost: the last unsealed standby answers every forwarded request this way.
    const api = {
      call: async () => {
        throw new VaultRequestError('https://n:1', 'probing', 'http', {
          status: 500,
          errors: ['local node not active but active cluster node not found'],
        });
      },
    } as unknown as VaultNode;
    expect(await probeAuditPath(api)).toBe('ok');
  });
  it('no answer says nothing about the audit path', async () => {
    const api = {
      call: async () => {
        throw new VaultRequestError('https://n:1', 'probing', 'unreachable', {});
      },
    } as unknown as VaultNode;
    expect(await probeAuditPath(api)).toBe('unknown');
  });
});

describe('judgeHealth with an active node that cannot audit', () => {
  const node = (name: string, active: boolean, auditFailing?: string): NodeHealth => ({
    name,
    address: `https://127.0.0.1/${name}`,
    reachable: true,
    initialized: true,
    sealed: false,
    active,
    ...(auditFailing ? { auditFailing } : {}),
  });
  it('is down (no request is served) and names the device first', () => {
    const j = judgeHealth(
      [
        node('vault-1', true, 'file/: write /openbao/logs/audit.log: no space left on device'),
        node('vault-2', false),
        node('vault-3', false),
      ],
      3,
      undefined,
    );
    expect(j.verdict).toBe('down');
    expect(j.reasons[0]).toMatch(
      /^vault-1 \(active\) answers HTTP 500 to every request: no audit device can write \(file\/: write .*no space left on device\); free space on vault-1's audit volume/,
    );
  });
  it('a standby that cannot audit (standby reads) is degraded', () => {
    const j = judgeHealth(
      [node('vault-1', true), node('vault-2', false, 'file/: x'), node('vault-3', false)],
      3,
      undefined,
    );
    expect(j.verdict).toBe('degraded');
    expect(j.reasons.join('\n')).toContain('vault-2 answers HTTP 500 to audited requests');
  });
});

describe("the endpoint's health check", () => {
  it('sends an audited request after sys/health, so a node that answers 500 to everything is marked down', () => {
    const cfg = renderHaproxyConfig(resolveSpec({ name: 'au-check', endpoint: { standbyPort: 19799 } }).spec);
    const active = cfg.slice(cfg.indexOf('backend vault_active'), cfg.indexOf('backend vault_any'));
    expect(active).toMatch(
      /http-check send meth GET uri \/v1\/sys\/health\n {2}http-check expect status 200\n {2}http-check connect default\n {2}http-check send meth GET uri \/v1\/vaultctl-endpoint-check\n {2}http-check expect status 403/,
    );
    expect(cfg.slice(cfg.indexOf('backend vault_any'))).toContain('uri /v1/vaultctl-endpoint-check');
  });
});

describe('the hint of an HTTP 500 "internal error"', () => {
  it('points at the audit device', () => {
    const e = new VaultRequestError('https://n:1', 'reading x', 'http', {
      status: 500,
      errors: ['internal error'],
    });
    expect(e.render()).toMatch(/hint: .*no audit device that can write/);
  });
});
