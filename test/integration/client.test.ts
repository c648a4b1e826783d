/**
 * VaultClient against a real TLS cluster: CRUD, cache invalidation, failover when a node stops,
 * stale-if-error when every node is down, AppRole with the application policy, input validation;
 * and a short `vaultctl bench` run.
 */
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  credentialPath,
  VaultClient,
  VaultForbiddenError,
  VaultInvalidInputError,
  VaultUnavailableError,
} from '../../src/client/index.js';
import { waitForHealth } from '../../src/health/health.js';
import {
  cliOutputs,
  eventually,
  leakedSecrets,
  removeClusterResources,
  TestCluster,
} from '../helpers/cluster.js';
import { CLI } from '../helpers/paths.js';

const cluster = new TestCluster({ name: 'vctl-it-client', apiPortBase: 18330 });
const T1 = '11111111-1111-4111-8111-111111111111';
const T2 = '22222222-2222-4222-8222-222222222222';
const targets = () => cluster.spec.nodes.map((n, i) => ({ name: n.name, address: cluster.address(i) }));

function rootClient(extra: Partial<ConstructorParameters<typeof VaultClient>[0]> = {}): VaultClient {
  return new VaultClient({
    addresses: cluster.addresses,
    token: cluster.rootToken,
    ca: cluster.tls!.ca,
    env: {},
    ...extra,
  });
}

beforeAll(async () => {
  await removeClusterResources(cluster.name);
  await cluster.up();
  await cluster.init();
});
afterAll(async () => {
  await cluster.destroy();
});

describe('VaultClient', () => {
  it('writes, reads, lists and deletes tenant credentials', async () => {
    const c = rootClient();
    const v = await c.putCredential(
      T1,
      'binance',
      'trading',
      { api_key: 'ak-1', secret: 'sk-1', passphrase: 'pp' },
      'ops@example.com',
    );
    expect(v.version).toBe(1);
    const got = await c.getCredential(T1, 'binance', 'trading');
    expect(got).toMatchObject({
      api_key: 'ak-1',
      secret: 'sk-1',
      passphrase: 'pp',
      metadata: { exchange: 'binance', credential_type: 'trading', created_by: 'ops@example.com' },
    });
    await c.putCredential(T1, 'kraken', 'readonly', { api_key: 'ak-2', secret: 'sk-2' });
    expect(await c.listSecrets(`tenants/${T1}/exchanges`)).toEqual(['binance/', 'kraken/']);
    await c.deleteSecret(credentialPath(T1, 'kraken', 'readonly'));
    expect(await c.getCredential(T1, 'kraken', 'readonly')).toBeNull();
    expect(await c.readSecret('tenants/none/exchanges/x/readonly')).toBeNull();
    expect(await c.listSecrets('tenants/nobody')).toEqual([]);
    const h = await c.healthCheck();
    expect(h).toMatchObject({ initialized: true, sealed: false });
  });

  it('serves repeated reads from the cache and invalidates the value on its own write', async () => {
    const c = rootClient();
    const path = credentialPath(T1, 'binance', 'trading');
    await c.readSecret(path);
    const hit = await c.readSecretWithMeta(path);
    expect(hit?.fromCache).toBe(true);
    expect(c.stats()).toMatchObject({ cacheHits: 1, cacheMisses: 1 });
    await c.writeSecret(path, { api_key: 'ak-1b', secret: 'sk-1b' });
    const after = await c.readSecretWithMeta(path);
    expect(after?.fromCache).toBe(false);
    expect(after?.data).toEqual({ api_key: 'ak-1b', secret: 'sk-1b' });
    expect(after?.version).toBe(2);
  });

  it('moves on to another node when the one it uses stops: reads and writes go on', async () => {
    const c = rootClient({ cache: { enabled: false } });
    const path = credentialPath(T2, 'coinbase', 'readonly');
    await c.writeSecret(path, { api_key: 'before' });
    const first = cluster.addresses.indexOf(c.currentAddress);
    await cluster.runtime.stopContainer(cluster.container(first), 5);
    try {
      await c.writeSecret(path, { api_key: 'during' });
      // A standby serves reads itself and sees the write a few milliseconds after the leader.
      await eventually(async () => expect((await c.readSecret(path))?.api_key).toBe('during'));
      expect(c.currentAddress).not.toBe(cluster.addresses[first]);
      expect(c.stats().failovers).toBeGreaterThanOrEqual(1);
    } finally {
      await cluster.runtime.startContainer(cluster.container(first));
      await waitForHealth(targets(), 3, { ...cluster.healthDeps(), waitMs: 60_000 });
    }
  });

  it('stale-if-error: with every node down it serves the last value, marked stale; without it, it fails', async () => {
    const path = credentialPath(T1, 'binance', 'trading');
    const c = rootClient({
      cache: { staleIfError: true, ttlMs: 1 },
      timeoutMs: 500,
      maxAttempts: 3,
      backoffMs: 5,
    });
    const plain = rootClient({ cache: { ttlMs: 1 }, timeoutMs: 500, maxAttempts: 3, backoffMs: 5 });
    await c.readSecret(path);
    await plain.readSecret(path);
    for (let i = 0; i < 3; i++) await cluster.runtime.stopContainer(cluster.container(i), 5);
    try {
      const stale = await c.readSecretWithMeta(path);
      expect(stale?.stale).toBe(true);
      expect(stale?.data).toMatchObject({ api_key: 'ak-1b' });
      expect(c.stats().staleServed).toBe(1);
      await expect(plain.readSecret(path)).rejects.toBeInstanceOf(VaultUnavailableError);
    } finally {
      for (let i = 0; i < 3; i++) await cluster.runtime.startContainer(cluster.container(i));
      const h = await waitForHealth(targets(), 3, { ...cluster.healthDeps(), waitMs: 90_000 });
      expect(h.verdict).toBe('healthy');
    }
  });

  it('logs in with AppRole and the application policy: reads every tenant, writes are forbidden', async () => {
    const app = cluster.state.readAppRole()!;
    const c = new VaultClient({
      addresses: cluster.addresses,
      appRole: { roleId: app.roleId, secretId: app.secretId },
      ca: cluster.tls!.ca,
      env: {},
    });
    expect((await c.getCredential(T1, 'binance', 'trading'))?.api_key).toBe('ak-1b');
    await expect(
      c.putCredential(T1, 'binance', 'trading', { api_key: 'x', secret: 'y' }),
    ).rejects.toBeInstanceOf(VaultForbiddenError);
    expect(c.stats().logins).toBeGreaterThanOrEqual(1);
  });

  it('refuses invalid tenant ids, exchanges and types before any request', async () => {
    // An address where nothing listens: a request would fail as "unavailable", not as invalid input.
    const c = new VaultClient({ addresses: ['https://127.0.0.1:1'], token: 'x', env: {} });
    await expect(c.getCredential('not-a-uuid', 'binance', 'trading')).rejects.toBeInstanceOf(
      VaultInvalidInputError,
    );
    await expect(c.getCredential(`${T1}/../x`, 'binance', 'trading')).rejects.toBeInstanceOf(
      VaultInvalidInputError,
    );
    await expect(c.getCredential(T1, 'Bin/ance', 'trading')).rejects.toBeInstanceOf(VaultInvalidInputError);
    await expect(c.getCredential(T1, 'binance', 'admin' as 'trading')).rejects.toBeInstanceOf(
      VaultInvalidInputError,
    );
    expect(() => new VaultClient({ env: {} })).toThrow(VaultInvalidInputError);
  });
});

describe('vaultctl bench', () => {
  it('runs the seed profile briefly and reports percentiles, throughput and a verdict', async () => {
    const r = await cluster.cli([
      'bench',
      '--users',
      '20',
      '--duration',
      '4s',
      '--warmup',
      '1s',
      '--tenants',
      '3',
      '--format',
      'json',
    ]);
    expect(r.exitCode, r.stderr).toBe(0);
    const rep = JSON.parse(r.stdout);
    expect(rep.mode).toBe('closed');
    expect(rep.read.count + rep.write.count).toBeGreaterThan(20);
    expect(rep.read.p50).toBeGreaterThan(0);
    expect(rep.read.p99).toBeGreaterThanOrEqual(rep.read.p50);
    expect(rep.errors).toBe(0);
    expect(rep.cacheHitRate).toBeGreaterThan(0);
    expect(rep.verdicts.map((v: { target: string }) => v.target)).toContain('write p99 < 50 ms');
    const open = await cluster.cli([
      'bench',
      '--rate',
      '50',
      '--cache',
      'off',
      '--duration',
      '3s',
      '--warmup',
      '0s',
      '--tenants',
      '2',
      '--format',
      'json',
    ]);
    expect(open.exitCode, open.stderr).toBe(0);
    const o = JSON.parse(open.stdout);
    expect(o.mode).toBe('open');
    // 50/s for 3 s: about 150 operations were scheduled and measured.
    expect(o.read.count + o.write.count + o.errors).toBeGreaterThan(120);
    expect(o.read.count + o.write.count + o.errors).toBeLessThan(160);
  });

  it('--check: a missed target exits 3 after the report, which names it; nothing more is printed', async () => {
    // No reads at all: the cached-read target cannot be met, whatever the host's speed.
    const r = await cluster.cli([
      'bench',
      '--users',
      '5',
      '--read-ratio',
      '0',
      '--duration',
      '2s',
      '--warmup',
      '0s',
      '--tenants',
      '1',
      '--check',
      '--format',
      'json',
    ]);
    expect(r.exitCode, r.stderr).toBe(3);
    const rep = JSON.parse(r.stdout);
    expect(rep.targetsMet).toBe(false);
    expect(rep.verdicts).toContainEqual(
      expect.objectContaining({ target: 'cached read p99 < 2 ms', met: false }),
    );
    expect(r.stderr).not.toMatch(/^Error /m);
  });

  it('Ctrl-C during the load: exit 130, no report, and the seeded credentials are removed', async () => {
    const child = execa(
      'node',
      [
        CLI,
        '--cluster',
        cluster.name,
        'bench',
        '--users',
        '5',
        '--duration',
        '60s',
        '--warmup',
        '0s',
        '--tenants',
        '2',
      ],
      { cwd: cluster.base, env: { NO_COLOR: '1', CI: 'true' }, reject: false, stdin: 'ignore' },
    );
    let err = '';
    child.stderr?.on('data', (d: Buffer) => {
      err += d.toString();
    });
    const start = Date.now();
    while (!/running: /.test(err) && Date.now() - start < 60_000)
      await new Promise((r) => setTimeout(r, 100));
    expect(err).toMatch(/running: /);
    await new Promise((r) => setTimeout(r, 1000));
    child.kill('SIGINT');
    const res = await child;
    cliOutputs.push(String(res.stdout), String(res.stderr));
    expect(res.exitCode, String(res.stderr)).toBe(130);
    expect(String(res.stderr)).toContain('removing the seeded credentials');
    expect(String(res.stderr)).toContain('Error running the benchmark: cancelled');
    expect(String(res.stdout)).toBe('');
    // A standby answers the list itself and applies the deletes a few milliseconds after the leader.
    const c = rootClient({ cache: { enabled: false } });
    await eventually(async () => {
      expect(await c.listSecrets('vaultctl-bench')).toEqual([]);
    }, 10_000);
  });

  it('no token or secret value appeared in any vaultctl output', () => {
    expect(leakedSecrets(cluster.knownSecrets(['ak-1', 'sk-1', 'ak-1b', 'sk-1b']))).toEqual([]);
  });
});
