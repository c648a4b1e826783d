/**
 * Mutual TLS (tls.requireClientCert): the nodes join each other with their certificates, vaultctl
 * presents the client certificate it issued, and a client without one is refused.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeClusterResources, TestCluster } from '../helpers/cluster.js';

const cluster = new TestCluster({
  name: 'vctl-it-mtls',
  apiPortBase: 18320,
  tls: { requireClientCert: true },
});

beforeAll(async () => {
  await removeClusterResources(cluster.name);
  writeFileSync(
    join(cluster.base, 'vaultctl.yaml'),
    [
      `name: ${cluster.name}`,
      `image: ${cluster.spec.image}`,
      'apiPortBase: 18320',
      'tls:',
      '  requireClientCert: true',
      '',
    ].join('\n'),
  );
});
afterAll(async () => {
  await cluster.destroy();
});

describe('a cluster with mutual TLS', () => {
  it('comes up, initialises and is healthy through vaultctl (which presents its client certificate)', async () => {
    const up = await cluster.cli(['up']);
    expect(up.exitCode, up.stderr).toBe(0);
    const init = await cluster.cli(['init']);
    expect(init.exitCode, init.stderr).toBe(0);
    const health = await cluster.cli(['health']);
    expect(health.exitCode, health.stdout).toBe(0);
    expect(health.stdout).toContain('voters 3/3');
  });

  it('refuses a client that trusts the CA but has no client certificate', async () => {
    const r = await cluster.cli(['health', '--addr', cluster.address(0)], {
      BAO_CACERT: join(cluster.state.root, 'tls', 'ca.pem'),
    });
    expect(r.exitCode).toBe(2);
    const ok = await cluster.cli(['health', '--addr', cluster.addresses.join(',')], {
      BAO_CACERT: join(cluster.state.root, 'tls', 'ca.pem'),
      BAO_CLIENT_CERT: join(cluster.state.root, 'tls', 'client', 'cert.pem'),
      BAO_CLIENT_KEY: join(cluster.state.root, 'tls', 'client', 'key.pem'),
    });
    expect(ok.exitCode, ok.stdout).toBe(0);
  });

  it('`vaultctl env` exports the client certificate variables', async () => {
    const r = await cluster.cli(['env']);
    expect(r.stdout).toContain('export BAO_CLIENT_CERT=');
    expect(r.stdout).toContain('export VAULT_CLIENT_KEY=');
    expect(r.stdout).not.toContain('TOKEN=');
  });
});
