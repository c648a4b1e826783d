/**
 * The spine, on a real 3-node OpenBao cluster in Docker with the default (static) seal:
 * up -> init -> health, replication, idempotence, restarts with auto-unseal, a stopped follower,
 * down/up keeping data. Tests run in order and share one cluster.
 */
import { chmodSync, copyFileSync, existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkHealth, waitForHealth } from '../../src/health/health.js';
import { VaultRequestError } from '../../src/vault/port.js';
import {
  clusterResources,
  eventually,
  leakedSecrets,
  readContainerFile,
  removeClusterResources,
  TestCluster,
} from '../helpers/cluster.js';

const cluster = new TestCluster({ name: 'vctl-it-life', apiPortBase: 18210 });
const targets = () => cluster.spec.nodes.map((n, i) => ({ name: n.name, address: cluster.address(i) }));

beforeAll(async () => {
  await removeClusterResources(cluster.name);
});
afterAll(async () => {
  await cluster.destroy();
});

describe('a 3-node cluster with the static seal', () => {
  it('up -> init -> health: exit 0, 3 voters, 1 leader', async () => {
    const up = await cluster.up();
    // Three nodes and the active-node endpoint.
    expect(up.plan.steps.filter((s) => s.action === 'create-container')).toHaveLength(4);
    const keyMode = statSync(cluster.state.sealKeyFile).mode & 0o777;
    expect(keyMode).toBe(0o600);
    expect(statSync(cluster.state.root).mode & 0o777).toBe(0o700);

    const res = await cluster.init();
    expect(res.initialisedNow).toBe(true);
    expect([...res.voters].sort()).toEqual(['vault-1', 'vault-2', 'vault-3']);
    expect(statSync(cluster.state.initFile).mode & 0o777).toBe(0o600);

    const cli = await cluster.cli(['health', '--format', 'json']);
    expect(cli.exitCode, cli.stderr).toBe(0);
    const h = JSON.parse(cli.stdout);
    expect(h.verdict).toBe('healthy');
    expect(h.raft.voters).toHaveLength(3);
    expect(h.nodes.filter((n: { active: boolean }) => n.active)).toHaveLength(1);
    expect(h.raft.failureTolerance).toBe(1);
  });

  it('has the audit device writing to its volume, KV v2 at secret/, the policies and AppRole', async () => {
    const api = cluster.api(0);
    // A value no path of vaultctl's own requests contains (health's audit probe is /v1/vaultctl-audit-probe).
    await api.kvPut('secret', 'tenants/t-audit/exchanges/binance/readonly', {
      api_key: 'plain-value-7f3a9c',
    });
    const log = await readContainerFile(cluster.container(0), '/openbao/logs/audit.log');
    const lines = log.trim().split('\n');
    expect(lines.length).toBeGreaterThan(2);
    expect(
      lines.some(
        (l) => JSON.parse(l).request?.path === 'secret/data/tenants/t-audit/exchanges/binance/readonly',
      ),
    ).toBe(true);
    // The audit log never holds the value in plain text.
    expect(log).not.toContain('plain-value-7f3a9c');

    const mounts = await api.mounts();
    expect(mounts['secret/']?.type).toBe('kv');
    expect(mounts['secret/']?.options?.version).toBe('2');
    for (const p of ['tenant-access', 'app-read', 'admin']) expect(await api.readPolicy(p)).toBeTruthy();
    expect(await api.readPolicy('tenant-access')).toContain('{{identity.entity.metadata.tenant_id}}');

    const cred = cluster.state.readAppRole()!;
    expect(statSync(cluster.state.appRoleFile).mode & 0o777).toBe(0o600);
    const login = await cluster
      .api(1, undefined)
      .write<{ auth: { client_token: string; policies: string[] } }>('auth/approle/login', {
        role_id: cred.roleId,
        secret_id: cred.secretId,
      });
    expect(login.auth.policies).toContain('app-read');
    const app = cluster.api(2, login.auth.client_token);
    await eventually(async () => {
      expect((await app.kvGet('secret', 'tenants/t-audit/exchanges/binance/readonly'))?.data).toEqual({
        api_key: 'plain-value-7f3a9c',
      });
    });
    await expect(
      app.kvPut('secret', 'tenants/t-audit/exchanges/binance/readonly', { api_key: 'x' }),
    ).rejects.toMatchObject({ status: 403 });
  });

  it('reads back through nodes 2 and 3 a secret written through node 1', async () => {
    const v = await cluster
      .api(0)
      .kvPut('secret', 'tenants/t1/exchanges/kraken/trading', { api_key: 'k1', secret: 's1' });
    expect(v.version).toBeGreaterThanOrEqual(1);
    for (const i of [1, 2]) {
      // Standbys serve reads themselves and see the write a few milliseconds later.
      await eventually(async () => {
        const got = await cluster.api(i).kvGet('secret', 'tenants/t1/exchanges/kraken/trading');
        expect(got?.data).toEqual({ api_key: 'k1', secret: 's1' });
      });
    }
  });

  it('up and init a second time change nothing', async () => {
    const up = await cluster.up();
    expect(up.plan.steps).toEqual([]);
    const cli = await cluster.cli(['up', '--dry-run']);
    expect(cli.exitCode, cli.stderr).toBe(0);
    expect(cli.stdout).toContain('nothing to do');
    const again = await cluster.init();
    expect(again.initialisedNow).toBe(false);
    expect(again.steps.filter((s) => s.changed)).toEqual([]);
  });

  it('refuses init of the initialised cluster from a state dir without its keys (exit 1)', async () => {
    const args = ['--state-dir', 'other-state', 'init', '--api-port', '18210', '--image', cluster.spec.image];
    // No saved spec there: refused before any node is contacted, naming the running containers.
    const missing = await cluster.cli(args);
    expect(missing.exitCode, missing.stderr).toBe(1);
    expect(missing.stderr).toMatch(
      /Error initialising the cluster: the state dir \S*other-state\/vctl-it-life is missing/,
    );
    expect(missing.stderr).toContain('but cluster vctl-it-life runs (');
    expect(missing.stderr).toContain(`${cluster.container(0)}, `);
    expect(missing.stderr).not.toMatch(/TLS|127\.0\.0\.1:8200/);
    // With the saved spec but not the keys: the nodes say they are initialised, init.json is absent.
    const other = join(cluster.base, 'other-state', 'vctl-it-life');
    mkdirSync(other, { recursive: true, mode: 0o700 });
    copyFileSync(cluster.state.specFile, join(other, 'cluster.json'));
    chmodSync(join(other, 'cluster.json'), 0o600);
    // Without the cluster's CA the nodes cannot even be verified: a TLS error, exit 2, with a hint.
    const untrusted = await cluster.cli(args);
    expect(untrusted.exitCode).toBe(2);
    expect(untrusted.stderr).toContain('TLS verification failed');
    expect(untrusted.stderr).toContain('BAO_CACERT');
    const res = await cluster.cli(args, { BAO_CACERT: join(cluster.state.root, 'tls', 'ca.pem') });
    expect(res.exitCode).toBe(1);
    expect(res.stderr).toMatch(
      /Error configuring cluster vctl-it-life: the cluster is already initialised but .*init\.json does not exist/,
    );
    expect(res.stderr).toContain('hint:');
  });

  it('a stopped follower: health exits 1 and writes still succeed; started again: exit 0', async () => {
    const h0 = await checkHealth(targets(), 3, cluster.healthDeps());
    const follower = h0.nodes.findIndex((n) => !n.active);
    await cluster.runtime.stopContainer(cluster.container(follower), 5);
    const degraded = await cluster.cli(['health']);
    expect(degraded.exitCode).toBe(1);
    expect(degraded.stdout).toContain('degraded');
    expect(degraded.stdout).toContain(`${cluster.node(follower).name} unreachable`);
    const active = h0.nodes.findIndex((n) => n.active);
    await cluster
      .api(active)
      .kvPut('secret', 'tenants/t1/exchanges/kraken/readonly', { api_key: 'while-degraded' });

    await cluster.runtime.startContainer(cluster.container(follower));
    const back = await cluster.cli(['health', '--wait', '90s']);
    expect(back.exitCode, back.stdout).toBe(0);
    await eventually(async () => {
      const got = await cluster.api(follower).kvGet('secret', 'tenants/t1/exchanges/kraken/readonly');
      expect(got?.data).toEqual({ api_key: 'while-degraded' });
    });
  });

  it('all three containers restarted: back unsealed and healthy with no key entered', async () => {
    for (let i = 0; i < 3; i++) await cluster.runtime.stopContainer(cluster.container(i), 5);
    const down = await checkHealth(targets(), 3, cluster.healthDeps(false));
    expect(down.verdict).toBe('down');
    for (let i = 0; i < 3; i++) await cluster.runtime.startContainer(cluster.container(i));
    const h = await waitForHealth(targets(), 3, { ...cluster.healthDeps(), waitMs: 90_000 });
    expect(h.verdict, h.reasons.join('; ')).toBe('healthy');
    const got = await cluster.api(2).kvGet('secret', 'tenants/t1/exchanges/kraken/trading');
    expect(got?.data).toEqual({ api_key: 'k1', secret: 's1' });
  });

  it('down keeps volumes and keys; up brings the same data back', async () => {
    const down = await cluster.cli(['down']);
    expect(down.exitCode, down.stderr).toBe(0);
    expect(down.stdout).toContain('Kept 6 volume(s)');
    expect(cluster.state.readInit()).toBeDefined();
    const up = await cluster.cli(['up']);
    expect(up.exitCode, up.stderr).toBe(0);
    // Initialised before, static seal: the next step is to wait for health, not to init again.
    expect(up.stdout).toContain('Next: vaultctl health');
    expect(up.stdout).not.toContain('vaultctl init');
    const h = await cluster.cli(['health', '--wait', '90s']);
    expect(h.exitCode, h.stdout).toBe(0);
    const got = await cluster.api(0).kvGet('secret', 'tenants/t1/exchanges/kraken/trading');
    expect(got?.data).toEqual({ api_key: 'k1', secret: 's1' });
    expect(got?.version).toBe(1);
  });

  it('down --volumes without a terminal and without --yes is refused and removes nothing', async () => {
    const res = await cluster.cli(['down', '--volumes']);
    expect(res.exitCode).toBe(1);
    expect(res.stderr).toContain('pass --yes');
    const h = await checkHealth(targets(), 3, cluster.healthDeps(false));
    expect(h.verdict).not.toBe('down');
    await expect(
      cluster.api(0).kvGet('secret', 'tenants/t1/exchanges/kraken/trading'),
    ).resolves.toBeDefined();
  });

  it('down --purge without --volumes is refused: the data would outlive the keys that unseal it', async () => {
    const res = await cluster.cli(['down', '--purge', '--yes']);
    expect(res.exitCode).toBe(1);
    expect(res.stderr).toContain('data volume(s) would stay behind without the keys that unseal them');
    expect(res.stderr).toContain('hint: add --volumes');
    expect(cluster.state.readInit()).toBeDefined();
    expect(await clusterResources(cluster.name)).toMatchObject({ containers: 4, volumes: 6 }); // 3 nodes, the endpoint
    const h = await checkHealth(targets(), 3, cluster.healthDeps(false));
    expect(h.verdict).not.toBe('down');
  });

  it('up from a state dir without the seal key of the existing data volumes is refused, touching nothing', async () => {
    const res = await cluster.cli([
      '--state-dir',
      'elsewhere',
      'up',
      '--api-port',
      '18210',
      '--image',
      cluster.spec.image,
    ]);
    expect(res.exitCode).toBe(1);
    expect(res.stderr).toContain("hold an earlier cluster's data");
    expect(res.stderr).toContain('hint: restore the state dir from its backup');
    expect(existsSync(join(cluster.base, 'elsewhere'))).toBe(false);
    expect(await clusterResources(cluster.name)).toMatchObject({ containers: 4, volumes: 6 }); // 3 nodes, the endpoint
    const h = await checkHealth(targets(), 3, cluster.healthDeps(false));
    expect(h.verdict).not.toBe('down');
  });

  it('the cluster answers 403 to a request without a token (sanity of the API layer)', async () => {
    const err = await cluster
      .api(0, '')
      .kvGet('secret', 'x')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VaultRequestError);
    // An unreachable node or a TLS failure is a VaultRequestError too: only an HTTP 403 counts.
    expect(err).toMatchObject({ kind: 'http', status: 403 });
  });

  it('no key share, root token, seal key or secret value appeared in any vaultctl output', () => {
    const secrets = cluster.knownSecrets(['plain-value-7f3a9c', 'while-degraded']);
    expect(secrets.length).toBeGreaterThan(3);
    expect(leakedSecrets(secrets)).toEqual([]);
  });
});
