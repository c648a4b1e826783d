/**
 * init is resumable: a node down at the start changes nothing and says which; a run killed right
 * after the first node was initialised has already stored the keys, and the next run finishes.
 */
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterResources, leakedSecrets, removeClusterResources, TestCluster } from '../helpers/cluster.js';
import { CLI } from '../helpers/paths.js';

const cluster = new TestCluster({ name: 'vctl-it-resume', apiPortBase: 18230 });

beforeAll(async () => {
  await removeClusterResources(cluster.name);
});
afterAll(async () => {
  await cluster.destroy();
});

describe('init after faults', () => {
  it('with a node down: exit 2, names the node, changes nothing', async () => {
    const up = await cluster.cli(['up', '--api-port', '18230', '--image', cluster.spec.image]);
    expect(up.exitCode, up.stderr).toBe(0);
    await cluster.runtime.stopContainer(cluster.container(2), 2);
    const res = await cluster.cli(['init']);
    expect(res.exitCode).toBe(2);
    expect(res.stderr).toContain('node vault-3 does not answer at https://127.0.0.1:18234');
    expect(res.stderr).toContain('hint:');
    expect(res.stderr).toContain('Nothing was changed');
    expect((await cluster.api(0).sealStatus()).initialized).toBe(false);
    expect(cluster.state.readInit()).toBeUndefined();
    await cluster.runtime.startContainer(cluster.container(2));
  });

  it('killed right after the first node was initialised: keys are stored, the next run finishes', async () => {
    const child = execa('node', [CLI, '--cluster', cluster.name, 'init'], {
      cwd: cluster.base,
      env: { CI: 'true', NO_COLOR: '1', VAULT_TOKEN: '', BAO_TOKEN: '' },
      reject: false,
    });
    let seen = '';
    child.stderr?.on('data', (d: Buffer) => {
      seen += d.toString();
      if (seen.includes('initialise vault-1:')) child.kill('SIGKILL');
    });
    const first = await child;
    expect(first.signal).toBe('SIGKILL');
    expect(cluster.state.readInit()?.keys).toHaveLength(5);

    const again = await cluster.cli(['init', '--format', 'json']);
    expect(again.exitCode, again.stderr).toBe(0);
    const res = JSON.parse(again.stdout);
    expect(res.initialisedNow).toBe(false);
    expect(res.voters).toHaveLength(3);
    const health = await cluster.cli(['health']);
    expect(health.exitCode, health.stdout).toBe(0);
    expect((await clusterResources(cluster.name)).containers).toBe(4); // 3 nodes, the endpoint
  });

  it('no key share, root token, seal key or secret value appeared in any vaultctl output', () => {
    const secrets = cluster.knownSecrets([]);
    expect(secrets.length).toBeGreaterThan(3);
    expect(leakedSecrets(secrets)).toEqual([]);
  });
});
