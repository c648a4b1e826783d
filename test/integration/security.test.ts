/**
 * Security on a real TLS cluster: tenant isolation with real logins, TLS certificate rotation
 * without losing quorum, retiring the root token (and getting one back from the key shares), and
 * secrets hygiene: the audit log holds no plaintext value, and no key, token, secret_id or secret
 * value appears in any vaultctl output.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VaultNode } from '../../src/vault/port.js';
import {
  cliOutputs,
  eventually,
  leakedSecrets,
  readContainerFile,
  removeClusterResources,
  TestCluster,
} from '../helpers/cluster.js';

const cluster = new TestCluster({ name: 'vctl-it-tenant', apiPortBase: 18300 });
const A = '00000000-0000-0000-0000-00000000000a';
const B = '00000000-0000-0000-0000-00000000000b';
const values = [
  'tenant-a-api-key-5f1c0e',
  'tenant-a-secret-91d2aa',
  'tenant-b-api-key-77e3bc',
  'tenant-a-updated-0c4d21',
];

async function login(roleId: string, secretId: string): Promise<VaultNode> {
  const res = await cluster
    .api(0, undefined)
    .write<{ auth: { client_token: string } }>('auth/approle/login', {
      role_id: roleId,
      secret_id: secretId,
    });
  return cluster.api(0, res.auth.client_token);
}

async function tenantLogin(id: string): Promise<VaultNode> {
  const created = await cluster.cli(['tenant', 'create', id, '--format', 'json']);
  expect(created.exitCode, created.stderr).toBe(0);
  const out = JSON.parse(created.stdout);
  expect(out.secretId).toBeUndefined();
  const { readFileSync } = await import('node:fs');
  const cred = JSON.parse(readFileSync(out.credentialFile, 'utf8'));
  return login(out.roleId, cred.secretId);
}

const extraSecrets: string[] = [];
let tenantA: VaultNode;
let tenantB: VaultNode;

beforeAll(async () => {
  await removeClusterResources(cluster.name);
  const up = await cluster.cli(['up', '--api-port', '18300', '--image', cluster.spec.image]);
  expect(up.exitCode, up.stderr).toBe(0);
  const init = await cluster.cli(['init']);
  expect(init.exitCode, init.stderr).toBe(0);
  tenantA = await tenantLogin(A);
  tenantB = await tenantLogin(B);
});
afterAll(async () => {
  await cluster.destroy();
});

describe('tenant isolation', () => {
  it('tenant A creates, reads, updates, lists and deletes under its own prefix', async () => {
    const path = `tenants/${A}/exchanges/binance/trading`;
    await tenantA.kvPut('secret', path, { api_key: values[0], secret: values[1] });
    expect((await tenantA.kvGet('secret', path))?.data).toEqual({ api_key: values[0], secret: values[1] });
    await tenantA.kvPut('secret', path, { api_key: values[3], secret: values[1] });
    const v2 = await tenantA.kvGet('secret', path);
    expect(v2?.version).toBe(2);
    const list = await tenantA.call<{ data: { keys: string[] } }>(
      'LIST',
      `/secret/metadata/tenants/${A}/exchanges`,
      'listing',
    );
    expect(list.data.keys).toEqual(['binance/']);
    await tenantA.call('DELETE', `/secret/metadata/tenants/${A}/exchanges/binance/readonly`, 'deleting');
    await tenantA.kvPut('secret', `tenants/${A}/exchanges/kraken/readonly`, { api_key: 'x-kraken-readonly' });
  });

  it("tenant A is denied tenant B's prefix: read, write and list answer 403", async () => {
    await tenantB.kvPut('secret', `tenants/${B}/exchanges/binance/trading`, { api_key: values[2] });
    await expect(tenantA.kvGet('secret', `tenants/${B}/exchanges/binance/trading`)).rejects.toMatchObject({
      status: 403,
    });
    await expect(
      tenantA.kvPut('secret', `tenants/${B}/exchanges/binance/trading`, { api_key: 'evil' }),
    ).rejects.toMatchObject({
      status: 403,
    });
    await expect(
      tenantA.call('LIST', `/secret/metadata/tenants/${B}/exchanges`, 'listing'),
    ).rejects.toMatchObject({ status: 403 });
    await expect(tenantA.call('LIST', '/secret/metadata/tenants', 'listing')).rejects.toMatchObject({
      status: 403,
    });
    // B's value is untouched.
    expect((await tenantB.kvGet('secret', `tenants/${B}/exchanges/binance/trading`))?.data).toEqual({
      api_key: values[2],
    });
  });

  it("the application policy reads every tenant's credentials and writes none", async () => {
    const app = cluster.state.readAppRole()!;
    const appApi = await login(app.roleId, app.secretId);
    await eventually(async () => {
      expect((await appApi.kvGet('secret', `tenants/${A}/exchanges/binance/trading`))?.data.api_key).toBe(
        values[3],
      );
      expect((await appApi.kvGet('secret', `tenants/${B}/exchanges/binance/trading`))?.data.api_key).toBe(
        values[2],
      );
    });
    await expect(
      appApi.kvPut('secret', `tenants/${A}/exchanges/binance/trading`, { api_key: 'app-write' }),
    ).rejects.toMatchObject({
      status: 403,
    });
  });

  it('refuses a tenant id containing "/", "+" or "*" before any request (exit 1)', async () => {
    for (const bad of ['a/b', '00000000-0000-0000-0000-00000000000+', '*']) {
      const r = await cluster.cli(['tenant', 'create', bad]);
      expect(r.exitCode).toBe(1);
      expect(r.stderr).toContain('which policy templates cannot carry');
    }
    const notUuid = await cluster.cli(['tenant', 'create', 'acme']);
    expect(notUuid.exitCode).toBe(1);
    expect(notUuid.stderr).toContain('not a UUID');
    const list = await cluster.cli(['tenant', 'list', '--format', 'json']);
    expect(JSON.parse(list.stdout).map((t: { tenantId: string }) => t.tenantId)).toEqual([A, B]);
  });

  it('tenant create is idempotent; delete removes the login but keeps the data', async () => {
    const again = await cluster.cli(['tenant', 'create', B, '--format', 'json']);
    expect(JSON.parse(again.stdout).created).toBe(false);
    const del = await cluster.cli(['tenant', 'delete', B, '--yes']);
    expect(del.exitCode, del.stderr).toBe(0);
    const list = await cluster.cli(['tenant', 'list', '--format', 'json']);
    expect(JSON.parse(list.stdout).map((t: { tenantId: string }) => t.tenantId)).toEqual([A]);
    const root = cluster.api(0);
    expect((await root.kvGet('secret', `tenants/${B}/exchanges/binance/trading`))?.data).toEqual({
      api_key: values[2],
    });
  });
});

describe('TLS', () => {
  it('every node speaks TLS 1.3 only, with a certificate for its name from the cluster CA', async () => {
    const { connect } = await import('node:tls');
    const ca = cluster.tls!.ca;
    const proto = await new Promise<string>((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port: 18302, ca, servername: 'vault-2' }, () => {
        resolve(String(s.getProtocol()));
        s.end();
      });
      s.on('error', reject);
    });
    expect(proto).toBe('TLSv1.3');
    const old = await new Promise<Error>((resolve) => {
      const s = connect(
        { host: '127.0.0.1', port: 18302, ca, servername: 'vault-2', maxVersion: 'TLSv1.2' },
        () => resolve(new Error('connected')),
      );
      s.on('error', resolve);
    });
    expect(old.message).not.toBe('connected');
    // A client that does not trust the cluster CA (a state dir without it, no BAO_CACERT) is
    // refused by vaultctl's own checks too.
    const r = await cluster.cli(['--state-dir', 'no-ca', 'health', '--addr', cluster.address(0)]);
    expect(r.exitCode).toBe(2);
    expect(r.stdout).toContain('TLS verification failed');
    // With the cluster's state dir, --addr and BAO_ADDR verify against its CA without BAO_CACERT.
    const withCa = await cluster.cli(['health', '--addr', cluster.addresses.join(',')]);
    expect(withCa.exitCode, withCa.stdout + withCa.stderr).toBe(0);
    const viaEnv = await cluster.cli(['health'], { BAO_ADDR: cluster.address(1) });
    expect(viaEnv.stdout + viaEnv.stderr).not.toContain('TLS verification failed');
    // REACHABLE yes, INIT yes, SEALED no: the node answered over verified TLS.
    expect(viaEnv.stdout).toMatch(/:18302\s+yes\s+yes\s+no\s/);
  });

  it('`tls rotate` gives every node a new certificate, one at a time, and the cluster stays healthy', async () => {
    const before = await cluster.cli(['tls', 'rotate', '--format', 'json']);
    expect(before.exitCode, before.stderr).toBe(0);
    const res = JSON.parse(before.stdout) as {
      nodes: { name: string; before: string; after: string; how: string }[];
    };
    expect(res.nodes.map((n) => n.name)).toEqual(['vault-1', 'vault-2', 'vault-3']);
    for (const n of res.nodes) expect(n.after).not.toBe(n.before);
    const health = await cluster.cli(['health']);
    expect(health.exitCode, health.stdout).toBe(0);
    expect(
      (await cluster.api(1).kvGet('secret', `tenants/${A}/exchanges/binance/trading`))?.data.api_key,
    ).toBe(values[3]);
  });
});

describe('retiring the root token', () => {
  it('init --revoke-root: an admin credential works, the root token no longer does, later commands go on', async () => {
    const root = cluster.rootToken;
    const r = await cluster.cli(['init', '--revoke-root']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toContain('revoke the root token');
    const { statSync } = await import('node:fs');
    expect(statSync(cluster.state.adminFile).mode & 0o777).toBe(0o600);
    await expect(cluster.api(0, root).call('GET', '/auth/token/lookup-self', 'lookup')).rejects.toMatchObject(
      { status: 403 },
    );
    const health = await cluster.cli(['health', '--format', 'json']);
    expect(health.exitCode, health.stdout).toBe(0);
    expect(JSON.parse(health.stdout).raft.voters).toHaveLength(3);
    const again = await cluster.cli(['init']);
    expect(again.exitCode, again.stderr).toBe(0);
    const t = await cluster.cli(['tenant', 'create', '00000000-0000-0000-0000-00000000000c']);
    expect(t.exitCode, t.stderr).toBe(0);
  });

  it('`root-token` makes a working root token from the recovery key shares, into a 0600 file', async () => {
    const r = await cluster.cli(['root-token', '--format', 'json']);
    expect(r.exitCode, r.stderr).toBe(0);
    const { file } = JSON.parse(r.stdout);
    const { readFileSync, statSync } = await import('node:fs');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const token = JSON.parse(readFileSync(file, 'utf8')).rootToken as string;
    extraSecrets.push(token);
    const self = await cluster
      .api(0, token)
      .call<{ data: { policies: string[] } }>('GET', '/auth/token/lookup-self', 'lookup');
    expect(self.data.policies).toContain('root');
    await cluster.api(0, token).write('auth/token/revoke-self', {});
  });
});

describe('secrets hygiene', () => {
  it('the audit logs hold no plaintext secret value, only hmac-sha256 forms', async () => {
    let seen = 0;
    let logs = 0;
    for (let i = 0; i < 3; i++) {
      // Standbys forward every request to the active node (no standby reads), so a node that was
      // never active has written no audit entry and has no log file yet.
      const log = await readContainerFile(cluster.container(i), '/openbao/logs/audit.log').catch(
        (e: Error) => {
          if (/Could not find the file/.test(e.message)) return undefined;
          throw e;
        },
      );
      if (log === undefined) continue;
      logs++;
      for (const v of [...values, ...cluster.knownSecrets()])
        expect(log.includes(v), `node ${i + 1} audit log holds a secret`).toBe(false);
      seen += (log.match(/hmac-sha256:/g) ?? []).length;
    }
    expect(logs).toBeGreaterThan(0);
    expect(seen).toBeGreaterThan(10);
  });

  it('no key share, root token, seal key, secret_id or secret value appears in any vaultctl output', () => {
    expect(cliOutputs.length).toBeGreaterThan(10);
    const secrets = cluster.knownSecrets([...values, ...extraSecrets]);
    expect(secrets.length).toBeGreaterThan(8);
    expect(leakedSecrets(secrets)).toEqual([]);
  });
});
