/**
 * The transit seal for real: `up --seal transit` with no address runs the cluster's own unsealer
 * (an OpenBao on the static seal, own container, volume and state), and the nodes auto-unseal
 * through it. One shared cluster; the tests run in order.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkHealth, waitForHealth } from '../../src/health/health.js';
import { unsealerAddress, unsealerContainerName } from '../../src/spec/names.js';
import { UNSEALER_FILES } from '../../src/unsealer/render.js';
import { unsealerRootToken } from '../../src/unsealer/unsealer.js';
import { connectVaultNode } from '../../src/vault/api.js';
import { VaultRequestError } from '../../src/vault/port.js';
import {
  clusterResources,
  eventually,
  leakedSecrets,
  removeClusterResources,
  TestCluster,
} from '../helpers/cluster.js';

const cluster = new TestCluster({ name: 'vctl-it-transit', apiPortBase: 18850, seal: { type: 'transit' } });
const targets = () => cluster.spec.nodes.map((n, i) => ({ name: n.name, address: cluster.address(i) }));
const nodeToken = () =>
  (JSON.parse(readFileSync(join(cluster.state.root, UNSEALER_FILES.nodeToken), 'utf8')) as { token: string })
    .token;
const unsealer = (token?: string) =>
  connectVaultNode({ address: unsealerAddress(cluster.spec), token, tls: cluster.tls });
const status = async (p: Promise<unknown>) => {
  try {
    await p;
    return 200;
  } catch (err) {
    if (err instanceof VaultRequestError) return err.status;
    throw err;
  }
};

beforeAll(async () => {
  await removeClusterResources(cluster.name);
});
afterAll(async () => {
  await cluster.destroy();
});

describe('a 3-node cluster on the transit seal of its own unsealer', () => {
  it('up starts the unsealer first, init makes recovery shares, health exits 0', async () => {
    const up = await cluster.up();
    expect(up.plan.steps.filter((s) => s.action === 'create-container').map((s) => s.target)).toEqual([
      'vctl-it-transit-vault-1',
      'vctl-it-transit-vault-2',
      'vctl-it-transit-vault-3',
      'vctl-it-transit-endpoint',
    ]);
    expect(statSync(join(cluster.state.root, 'unsealer')).mode & 0o777).toBe(0o700);
    for (const f of [UNSEALER_FILES.sealKey, UNSEALER_FILES.init, UNSEALER_FILES.nodeToken])
      expect(statSync(join(cluster.state.root, f)).mode & 0o777, f).toBe(0o600);
    // The token is in the nodes' environment, never in their configuration.
    for (const f of ['nodes/vault-1/node.hcl', 'docker-compose.vault.yml'])
      expect(readFileSync(join(cluster.state.root, f), 'utf8')).not.toContain(nodeToken());

    const res = await cluster.init();
    expect(res.initialisedNow).toBe(true);
    const init = cluster.state.readInit()!;
    expect(init.keyKind).toBe('recovery');
    expect(init.sealType).toBe('transit');
    const h = await waitForHealth(targets(), 3, { ...cluster.healthDeps(), waitMs: 90_000 });
    expect(h.verdict, h.reasons.join('; ')).toBe('healthy');
    const seal = await cluster.api(1).sealStatus();
    expect((seal as { type?: string }).type).toBe('transit');
    await cluster.api(0).kvPut('secret', 'tenants/t1/exchanges/kraken/trading', { api_key: 'k1' });
  });

  it("the nodes' token: periodic, orphan, encrypt/decrypt on its key only; no secrets, no sys, no other key", async () => {
    const root = unsealerRootToken(cluster.state)!;
    const self = await unsealer(nodeToken()).read<{
      data: { orphan: boolean; period: number; policies: string[]; renewable: boolean };
    }>('auth/token/lookup-self');
    expect(self.data.orphan).toBe(true);
    expect(self.data.period).toBe(24 * 3600);
    expect(self.data.renewable).toBe(true);
    expect(self.data.policies).toEqual(['vaultctl-autounseal']);

    const admin = unsealer(root);
    await admin.mount('kv-probe', 'kv', { version: '2' });
    // A new KV v2 mount answers 400 while it upgrades itself.
    await eventually(() => admin.kvPut('kv-probe', 'x', { v: 'secret-value' }), 15_000);
    await admin.write('transit/keys/other-key', {});
    const t = unsealer(nodeToken());
    expect(await status(t.write('transit/encrypt/vaultctl-autounseal', { plaintext: 'aGk=' }))).toBe(200);
    expect(await status(t.kvGet('kv-probe', 'x'))).toBe(403);
    expect(await status(t.write('transit/encrypt/other-key', { plaintext: 'aGk=' }))).toBe(403);
    expect(await status(t.write('transit/decrypt/other-key', { ciphertext: 'vault:v1:x' }))).toBe(403);
    expect(await status(t.read('transit/export/encryption-key/vaultctl-autounseal'))).toBe(403);
    expect(await status(t.read('sys/mounts'))).toBe(403);
    expect(await status(t.read('sys/policies/acl/vaultctl-autounseal'))).toBe(403);
    expect(await status(t.write('auth/token/create', {}))).toBe(403);
    // ... and on the cluster itself it is no token at all.
    expect(
      await status(cluster.api(0, nodeToken()).kvGet('secret', 'tenants/t1/exchanges/kraken/trading')),
    ).toBe(403);
  });

  it('full restart (all nodes; the unsealer stays): every node unseals itself, no key typed', async () => {
    for (let i = 0; i < 3; i++) await cluster.runtime.stopContainer(cluster.container(i), 5);
    expect((await checkHealth(targets(), 3, cluster.healthDeps(false))).verdict).toBe('down');
    for (let i = 0; i < 3; i++) await cluster.runtime.startContainer(cluster.container(i));
    const h = await waitForHealth(targets(), 3, { ...cluster.healthDeps(), waitMs: 90_000 });
    expect(h.verdict, h.reasons.join('; ')).toBe('healthy');
    const got = await cluster.api(2).kvGet('secret', 'tenants/t1/exchanges/kraken/trading');
    expect(got?.data).toEqual({ api_key: 'k1' });
  });

  it('the unsealer restarts on its static seal; the nodes restarted after it unseal again', async () => {
    const name = unsealerContainerName(cluster.spec);
    await cluster.runtime.stopContainer(name, 5);
    await cluster.runtime.startContainer(name);
    for (let i = 0; i < 3; i++) await cluster.runtime.stopContainer(cluster.container(i), 5);
    for (let i = 0; i < 3; i++) await cluster.runtime.startContainer(cluster.container(i));
    const h = await waitForHealth(targets(), 3, { ...cluster.healthDeps(), waitMs: 120_000 });
    expect(h.verdict, h.reasons.join('; ')).toBe('healthy');
  });

  it("a revoked (or expired) nodes' token: up issues a new one and recreates the nodes with it", async () => {
    const root = unsealerRootToken(cluster.state)!;
    const old = nodeToken();
    const { accessor } = JSON.parse(readFileSync(join(cluster.state.root, UNSEALER_FILES.nodeToken), 'utf8'));
    await unsealer(root).write('auth/token/revoke-accessor', { accessor });
    const up = await cluster.cli(['up', '--format', 'json']);
    expect(up.exitCode, up.stderr).toBe(0);
    const res = JSON.parse(up.stdout);
    expect(res.unsealer.actions).toEqual(['token issued']);
    expect(res.steps.filter((s: { action: string }) => s.action === 'create-container')).toHaveLength(3);
    expect(nodeToken()).not.toBe(old);
    const h = await waitForHealth(targets(), 3, { ...cluster.healthDeps(), waitMs: 120_000 });
    expect(h.verdict, h.reasons.join('; ')).toBe('healthy');
    for (let i = 0; i < 3; i++) await cluster.runtime.stopContainer(cluster.container(i), 5);
    for (let i = 0; i < 3; i++) await cluster.runtime.startContainer(cluster.container(i));
    const again = await waitForHealth(targets(), 3, { ...cluster.healthDeps(), waitMs: 120_000 });
    expect(again.verdict, again.reasons.join('; ')).toBe('healthy');
  });

  it('up again changes nothing and renews the token; down --purge without --volumes refuses', async () => {
    const before = nodeToken();
    const again = await cluster.cli(['up', '--seal', 'transit', '--format', 'json']);
    expect(again.exitCode, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout).steps).toEqual([]);
    expect(JSON.parse(again.stdout).unsealer.actions).toEqual(['token renewed']);
    expect(nodeToken()).toBe(before);

    const purge = await cluster.cli(['down', '--purge', '--yes']);
    expect(purge.exitCode).toBe(1);
    expect(purge.stderr).toContain('without the keys that unseal them');
    expect(existsSync(join(cluster.state.root, UNSEALER_FILES.sealKey))).toBe(true);
    expect((await clusterResources(cluster.name)).containers).toBe(5);

    const down = await cluster.cli(['down']);
    expect(down.exitCode, down.stderr).toBe(0);
    expect(await clusterResources(cluster.name)).toEqual({ containers: 0, networks: 0, volumes: 7 });
  });

  it("never prints the unsealer root token, its recovery key or the nodes' token", () => {
    const init = JSON.parse(readFileSync(join(cluster.state.root, UNSEALER_FILES.init), 'utf8'));
    expect(
      leakedSecrets([init.rootToken, ...init.recoveryKeys, nodeToken(), ...cluster.knownSecrets()]),
    ).toEqual([]);
  });
});
