/**
 * The Shamir seal: init stores the key shares; after a restart every node is sealed and
 * `vaultctl unseal` (with the stored shares) brings the cluster back; a snapshot restored into a
 * fresh cluster after total loss comes back unsealed with the stored shares.
 */
import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkHealth } from '../../src/health/health.js';
import { eventually, leakedSecrets, removeClusterResources, TestCluster } from '../helpers/cluster.js';

const cluster = new TestCluster({
  name: 'vctl-it-shamir',
  apiPortBase: 18220,
  seal: { type: 'shamir', shares: 5, threshold: 3 },
});
const targets = () => cluster.spec.nodes.map((n, i) => ({ name: n.name, address: cluster.address(i) }));

beforeAll(async () => {
  await removeClusterResources(cluster.name);
});
afterAll(async () => {
  await cluster.destroy();
});

describe('a 3-node cluster with the Shamir seal', () => {
  it('init stores 5 unseal key shares (0600), unseals all three nodes and joins them', async () => {
    const up = await cluster.cli([
      'up',
      '--seal',
      'shamir',
      '--api-port',
      '18220',
      '--image',
      cluster.spec.image,
    ]);
    expect(up.exitCode, up.stderr).toBe(0);
    const init = await cluster.cli(['init', '--format', 'json']);
    expect(init.exitCode, init.stderr).toBe(0);
    const res = JSON.parse(init.stdout);
    expect(res.voters).toHaveLength(3);
    // Keys are in the state dir, never in the output.
    expect(res.keys).toBeUndefined();
    const material = cluster.state.readInit()!;
    expect(material.keyKind).toBe('unseal');
    expect(material.keys).toHaveLength(5);
    expect(material.threshold).toBe(3);
    expect(statSync(cluster.state.initFile).mode & 0o777).toBe(0o600);
    for (const k of material.keys) {
      expect(init.stdout).not.toContain(k);
      expect(init.stderr).not.toContain(k);
    }
    expect(init.stdout + init.stderr).not.toContain(material.rootToken);
    const health = await cluster.cli(['health']);
    expect(health.exitCode, health.stdout).toBe(0);
  });

  it('after a restart every node is sealed (health exit 2); `vaultctl unseal` brings it back (exit 0)', async () => {
    await cluster
      .api(0)
      .kvPut('secret', 'tenants/t9/exchanges/binance/trading', { api_key: 'sealed-then-back' });
    for (let i = 0; i < 3; i++) await cluster.runtime.stopContainer(cluster.container(i), 5);
    for (let i = 0; i < 3; i++) await cluster.runtime.startContainer(cluster.container(i));
    await eventually(async () => {
      const h = await checkHealth(targets(), 3, cluster.healthDeps(false));
      expect(h.nodes.every((n) => n.reachable && n.sealed)).toBe(true);
    }, 30_000);
    const sealed = await cluster.cli(['health']);
    expect(sealed.exitCode).toBe(2);
    expect(sealed.stdout).toContain('down');

    const unseal = await cluster.cli(['unseal']);
    expect(unseal.exitCode, unseal.stderr).toBe(0);
    expect(unseal.stdout).toMatch(/vault-1\s+sealed\s+unsealed/);
    const healthy = await cluster.cli(['health', '--wait', '60s']);
    expect(healthy.exitCode, healthy.stdout).toBe(0);
    await eventually(async () => {
      const got = await cluster.api(1).kvGet('secret', 'tenants/t9/exchanges/binance/trading');
      expect(got?.data).toEqual({ api_key: 'sealed-then-back' });
    });
  });

  it('`init` again on a sealed cluster unseals it too (resumable)', async () => {
    await cluster.runtime.stopContainer(cluster.container(2), 5);
    await cluster.runtime.startContainer(cluster.container(2));
    await eventually(async () => {
      const h = await checkHealth(targets(), 3, cluster.healthDeps(false));
      expect(h.nodes[2]?.sealed).toBe(true);
    }, 30_000);
    const init = await cluster.cli(['init']);
    expect(init.exitCode, init.stderr).toBe(0);
    const h = await checkHealth(targets(), 3, cluster.healthDeps());
    expect(h.nodes.every((n) => n.sealed === false)).toBe(true);
  });

  it('unseal without a terminal and without stored keys fails clearly (exit 1)', async () => {
    const addrs = cluster.addresses.join(',');
    // Another state dir: no keys, no CA; the CA comes from the environment, as for any cluster.
    const caEnv = { BAO_CACERT: join(cluster.state.root, 'tls', 'ca.pem') };
    const other = await cluster.cli(['--state-dir', 'no-keys', 'unseal', '--addr', addrs], caEnv);
    // Every node is unsealed now, so nothing needs keys: exit 0 and no prompt.
    expect(other.exitCode, other.stderr).toBe(0);
    await cluster.runtime.stopContainer(cluster.container(1), 5);
    await cluster.runtime.startContainer(cluster.container(1));
    await eventually(async () => {
      const h = await checkHealth(targets(), 3, cluster.healthDeps(false));
      expect(h.nodes[1]?.sealed).toBe(true);
    }, 30_000);
    const res = await cluster.cli(['--state-dir', 'no-keys', 'unseal', '--addr', addrs], caEnv);
    expect(res.exitCode).toBe(1);
    expect(res.stderr).toContain('Error unsealing: no key shares in');
    expect(res.stderr).toContain('vaultctl unseal --prompt');
    const back = await cluster.cli(['unseal']);
    expect(back.exitCode, back.stderr).toBe(0);
  });

  it('snapshot, total loss (down --volumes), fresh cluster: restore unseals every node with the stored shares', async () => {
    const h0 = await checkHealth(targets(), 3, cluster.healthDeps());
    const active = h0.nodes.findIndex((n) => n.active);
    const leader = cluster.api(active);
    for (let i = 0; i < 20; i++) await leader.kvPut('secret', `shamir-dr/${i}`, { value: `dr-value-${i}` });
    await leader.kvPut('secret', 'shamir-dr/0', { value: 'dr-value-0b' });
    const dir = join(cluster.base, 'snaps');
    mkdirSync(dir);
    const save = await cluster.cli(['snapshot', 'save', '--dir', dir, '--format', 'json']);
    expect(save.exitCode, save.stderr).toBe(0);
    const file = join(dir, JSON.parse(save.stdout).file);

    const down = await cluster.cli(['down', '--volumes', '--yes']);
    expect(down.exitCode, down.stderr).toBe(0);
    await cluster.up();
    const restore = await cluster.cli(['snapshot', 'restore', file, '--yes']);
    expect(restore.exitCode, restore.stderr).toBe(0);
    expect(restore.stderr).toContain('unsealing the nodes with the state dir key shares');

    const h = await checkHealth(targets(), 3, cluster.healthDeps());
    expect(h.verdict, h.reasons.join('; ')).toBe('healthy');
    expect(h.nodes.every((n) => n.sealed === false)).toBe(true);
    const a = cluster.api(h.nodes.findIndex((n) => n.active));
    expect(await a.kvGet('secret', 'shamir-dr/0')).toMatchObject({
      data: { value: 'dr-value-0b' },
      version: 2,
    });
    expect((await a.kvGet('secret', 'shamir-dr/19'))?.data).toEqual({ value: 'dr-value-19' });
  });

  it('no key share, root token, seal key or secret value appeared in any vaultctl output', () => {
    const secrets = cluster.knownSecrets(['sealed-then-back', 'dr-value-0b', 'dr-value-19']);
    expect(secrets.length).toBeGreaterThan(3);
    expect(leakedSecrets(secrets)).toEqual([]);
  });
});
