/**
 * Seal migration for real: a cluster on the static seal with 200 secrets becomes a transit-sealed
 * cluster (its own unsealer) with `vaultctl seal migrate --to transit`, as an operator runs it.
 * One shared cluster; the tests run in order.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkHealth, waitForHealth } from '../../src/health/health.js';
import { cliOutputs, leakedSecrets, removeClusterResources, TestCluster } from '../helpers/cluster.js';
import { CLI } from '../helpers/paths.js';

const cluster = new TestCluster({ name: 'vctl-it-sealmig', apiPortBase: 18960 });
const targets = () => cluster.spec.nodes.map((n, i) => ({ name: n.name, address: cluster.address(i) }));
const COUNT = 200;
const secretPath = (i: number) => `tenants/t${i % 7}/exchanges/x${i}/trading`;

/** The built CLI with room for a migration on a loaded machine (runCli stops at 200 s). */
async function vaultctl(args: string[]) {
  const res = await execa('node', [CLI, '--cluster', cluster.name, ...args], {
    cwd: cluster.base,
    env: { NO_COLOR: '1', CI: 'true', VAULT_ADDR: '', BAO_ADDR: '', VAULT_TOKEN: '', BAO_TOKEN: '' },
    reject: false,
    stdin: 'ignore',
    timeout: 900_000,
  });
  cliOutputs.push(String(res.stdout), String(res.stderr));
  return { exitCode: res.exitCode ?? -1, stdout: String(res.stdout), stderr: String(res.stderr) };
}

const fingerprint = () =>
  ['cluster.json', 'init.json', 'nodes/vault-1/node.hcl'].map((f) =>
    readFileSync(join(cluster.state.root, f), 'utf8'),
  );

beforeAll(async () => {
  await removeClusterResources(cluster.name);
  await cluster.up();
  await cluster.init();
  const api = cluster.api(0);
  for (let i = 0; i < COUNT; i += 20)
    await Promise.all(
      Array.from({ length: 20 }, (_, j) => api.kvPut('secret', secretPath(i + j), { api_key: `k-${i + j}` })),
    );
}, 600_000);
afterAll(async () => {
  await cluster.destroy();
});

describe('seal migrate on a static-seal cluster with 200 secrets', () => {
  it('refuses --to static (the seal it has): exit 1, nothing touched', async () => {
    const before = fingerprint();
    const res = await vaultctl(['seal', 'migrate', '--to', 'static', '--yes']);
    expect(res.exitCode).toBe(1);
    expect(res.stderr).toMatch(
      /Error migrating the seal from static to static: the cluster already uses the static seal/,
    );
    expect(fingerprint()).toEqual(before);
    expect(existsSync(join(cluster.state.root, 'seal-migration.json'))).toBe(false);
    expect(existsSync(join(cluster.state.root, 'snapshots'))).toBe(false);
  });

  it('--dry-run shows the order (standbys first, the active node last after a step-down) and changes nothing', async () => {
    const before = fingerprint();
    const res = await vaultctl(['seal', 'migrate', '--to', 'transit', '--dry-run']);
    expect(res.exitCode, res.stderr).toBe(0);
    expect(res.stdout).toContain('from the static seal to transit');
    expect(res.stdout).toMatch(/vault-1\s+step down, then restart on the new seal alone/);
    expect(fingerprint()).toEqual(before);
  });

  it('--to transit: every secret reads back, health exits 0, the state dir records transit', async () => {
    const res = await vaultctl(['seal', 'migrate', '--to', 'transit', '--yes']);
    expect(res.exitCode, res.stderr).toBe(0);
    expect(res.stdout).toContain('now uses the transit seal (was static)');
    const snap = /Snapshot: (\S+)/.exec(res.stdout)?.[1];
    expect(snap && existsSync(snap), res.stdout).toBe(true);
    const health = await vaultctl(['health']);
    expect(health.exitCode, health.stdout).toBe(0);
    for (let i = 0; i < 3; i++) expect((await cluster.api(i).sealStatus()).type).toBe('transit');
    const api = cluster.api(2);
    const got = await Promise.all(
      Array.from({ length: COUNT }, (_, i) => api.kvGet('secret', secretPath(i))),
    );
    expect(got.filter((g, i) => g?.data.api_key === `k-${i}`).length).toBe(COUNT);

    const saved = JSON.parse(readFileSync(cluster.state.specFile, 'utf8')) as { seal: { type: string } };
    expect(saved.seal.type).toBe('transit');
    const init = cluster.state.readInit()!;
    expect(init.sealType).toBe('transit');
    expect(init.keyKind).toBe('recovery');
    expect(statSync(cluster.state.initFile).mode & 0o777).toBe(0o600);
    for (const f of ['seal-migration.json', 'init.json.pre-seal-migration'])
      expect(existsSync(join(cluster.state.root, f)), f).toBe(false);
    const history = JSON.parse(readFileSync(join(cluster.state.root, 'seal-history.json'), 'utf8'));
    expect(history).toMatchObject([{ from: 'static', to: 'transit', snapshot: snap }]);
    for (const n of ['vault-1', 'vault-2', 'vault-3']) {
      const hcl = readFileSync(join(cluster.state.root, 'nodes', n, 'node.hcl'), 'utf8');
      expect(hcl).toContain('seal "transit"');
      expect(hcl).not.toContain('seal "static"');
    }
  }, 900_000);

  it('a full restart after the migration comes back unsealed with no key typed', async () => {
    for (let i = 0; i < 3; i++) await cluster.runtime.stopContainer(cluster.container(i), 5);
    expect((await checkHealth(targets(), 3, cluster.healthDeps(false))).verdict).toBe('down');
    for (let i = 0; i < 3; i++) await cluster.runtime.startContainer(cluster.container(i));
    const h = await waitForHealth(targets(), 3, { ...cluster.healthDeps(), waitMs: 120_000 });
    expect(h.verdict, h.reasons.join('; ')).toBe('healthy');
    expect((await cluster.api(1).kvGet('secret', secretPath(7)))?.data).toEqual({ api_key: 'k-7' });
    expect((await vaultctl(['seal', 'migrate', '--to', 'transit', '--yes'])).exitCode).toBe(1);
  });

  it('no secret in any output', () => {
    expect(leakedSecrets(cluster.knownSecrets())).toEqual([]);
  });
});
