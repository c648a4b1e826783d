import { describe, expect, it } from 'vitest';
import type { NodeHealth } from '../../src/health/health.js';
import { judgeHealth, sealBackendCause } from '../../src/health/health.js';

// As OpenBao 2.7.2 logs it when the unsealer's container is stopped (its name does not resolve).
const FAILED = [
  '2026-12-01T11:50:28.695Z [INFO]  core: vault is sealed',
  '2026-12-01T11:50:29.318Z [INFO]  proxy environment: http_proxy="" https_proxy="" no_proxy=""',
  'Error configuring seal "transit": Put "https://unsealer:8200/v1/transit/encrypt/vaultctl-autounseal": dial tcp: lookup unsealer on 127.0.0.11:53: no such host',
].join('\n');

describe('sealBackendCause', () => {
  it('names the seal and the error of a server that could not configure its seal', () => {
    expect(sealBackendCause(FAILED)).toMatch(/^transit: Put "https:\/\/unsealer:8200.*no such host$/);
  });

  it('forgets the error once a later start got through', () => {
    expect(
      sealBackendCause(`${FAILED}\n==> OpenBao server started! Log data will stream in below:`),
    ).toBeUndefined();
    expect(sealBackendCause('==> OpenBao server started!\ncore: vault is unsealed')).toBeUndefined();
  });
});

describe('judgeHealth with a seal backend away', () => {
  const up = (name: string, active = false): NodeHealth => ({
    name,
    address: `https://127.0.0.1/${name}`,
    reachable: true,
    initialized: true,
    sealed: false,
    active,
  });
  const blocked = (name: string): NodeHealth => ({
    name,
    address: `https://127.0.0.1/${name}`,
    reachable: false,
    error: 'cannot connect (ECONNREFUSED)',
    sealBackend: 'transit: dial tcp: no such host',
  });

  it('is down when no node can unseal, and says why first', () => {
    const j = judgeHealth([blocked('vault-1'), blocked('vault-2'), blocked('vault-3')], 3, undefined);
    expect(j.verdict).toBe('down');
    expect(j.reasons[0]).toBe(
      'seal backend unreachable: vault-1, vault-2, vault-3 cannot unseal (transit: dial tcp: no such host); they unseal themselves once it answers again',
    );
  });

  it('is degraded when one node cannot unseal and quorum serves', () => {
    const j = judgeHealth([up('vault-1', true), up('vault-2'), blocked('vault-3')], 3, undefined);
    expect(j.verdict).toBe('degraded');
    expect(j.reasons[0]).toMatch(/^seal backend unreachable: vault-3 cannot unseal/);
    expect(j.reasons).toContain('vault-3 down: its seal backend is unreachable');
  });
});

describe('judgeHealth with a seal backend that refuses the token', () => {
  it('says the credentials are refused, and what issues new ones', () => {
    const n: NodeHealth = {
      name: 'vault-1',
      address: 'https://127.0.0.1:8200',
      reachable: false,
      sealBackend: 'transit: Error making API request. Code: 403. Errors: * permission denied',
    };
    const j = judgeHealth([n], 1, undefined);
    expect(j.verdict).toBe('down');
    expect(j.reasons[0]).toMatch(
      /^seal backend refuses the nodes' credentials: vault-1 cannot unseal .*`vaultctl up` issues a new token$/,
    );
  });
});
