/**
 * `vaultctl upgrade` on a real 2.6.2 cluster: refused while a node is down; a run aborted after
 * the first standby leaves a healthy cluster and its rerun finishes under live writes (every node
 * on 2.7.2, nothing acknowledged lost, the seeded secrets all there, `up` plans nothing); a
 * downgrade refused with nothing touched; the snapshot saved on 2.6.2 restores into 2.7.2.
 */

import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCluster } from '../../src/cluster/running.js';
import { CancelledError } from '../../src/errors.js';
import { checkHealth, waitForHealth } from '../../src/health/health.js';
import { sidecarPath } from '../../src/snapshot/meta.js';
import type { UpgradeResult } from '../../src/upgrade/upgrade.js';
import { upgradeCluster } from '../../src/upgrade/upgrade.js';
import { connectVaultNode } from '../../src/vault/api.js';
import { docker, removeClusterResources, TestCluster } from '../helpers/cluster.js';

const OLD = 'vaultctl/openbao:2.6.2';
const cluster = new TestCluster({ name: 'vctl-it-upgrade', apiPortBase: 18900, image: OLD });
const SECRETS = 100;

async function containerIds(): Promise<string[]> {
  const list = await docker.listContainers({
    all: true,
    filters: { label: [`io.vaultctl.cluster=${cluster.name}`] },
  });
  return list.map((c) => `${c.Names[0]} ${c.Id} ${c.Image}`).sort();
}

async function healthy(): Promise<void> {
  const h = await waitForHealth(
    cluster.spec.nodes.map((n, i) => ({ name: n.name, address: cluster.address(i) })),
    3,
    { ...cluster.healthDeps(), waitMs: 90_000 },
  );
  expect(h.reasons).toEqual([]);
}

async function versions(): Promise<(string | undefined)[]> {
  const h = await checkHealth(
    cluster.spec.nodes.map((n, i) => ({ name: n.name, address: cluster.address(i) })),
    3,
    cluster.healthDeps(),
  );
  return h.nodes.map((n) => n.version);
}

async function secretsPresent(): Promise<number> {
  const api = cluster.api(0);
  let n = 0;
  for (let i = 0; i < SECRETS; i++) {
    const r = await api.kvGet(cluster.spec.kv.path, `seed/s${i}`);
    if (r?.data.value === `v${i}`) n++;
  }
  return n;
}

let snapshotOn262: string | undefined;

beforeAll(async () => {
  await removeClusterResources(cluster.name);
  await cluster.up();
  await cluster.init();
  const api = cluster.api(0);
  for (let i = 0; i < SECRETS; i++) await api.kvPut(cluster.spec.kv.path, `seed/s${i}`, { value: `v${i}` });
}, 240_000);
afterAll(async () => {
  await cluster.destroy();
});

describe('vaultctl upgrade', () => {
  it('must refuse an unhealthy cluster (a node stopped), exit 1, nothing touched', async () => {
    await docker.getContainer(cluster.container(2)).stop({ t: 5 });
    const before = await containerIds();
    const res = await cluster.cli(['upgrade', '--server-version', '2.7.2', '--yes']);
    expect(res.exitCode, res.stderr).toBe(1);
    expect(res.stderr).toMatch(/Error refusing the upgrade: the cluster is not healthy/);
    expect(res.stderr).toMatch(/nothing was touched/);
    expect(await containerIds()).toEqual(before);
    await docker.getContainer(cluster.container(2)).start();
    await healthy();
  });

  it('must refuse an image that is not an OpenBao server (moto, prometheus, haproxy), dry run too: exit 1, nothing touched (issue 26 item 1)', async () => {
    const before = await containerIds();
    const saved = readFileSync(cluster.state.specFile, 'utf8');
    for (const image of ['vaultctl/moto:5.2.1', 'vaultctl/prometheus:2.42.0', 'vaultctl/haproxy:2.6.12']) {
      for (const extra of [['--dry-run'], ['--yes']]) {
        const res = await cluster.cli(['upgrade', '--image', image, ...extra]);
        expect(res.exitCode, `${image} ${extra}: ${res.stderr}`).toBe(1);
        expect(res.stderr).toContain(`Error refusing the upgrade: ${image} is not an OpenBao server image`);
        expect(res.stderr).not.toMatch(/downgrade|snapshot saved/);
        expect(res.stderr).toMatch(/hint: nothing was touched/);
      }
    }
    expect(await containerIds()).toEqual(before);
    expect(readFileSync(cluster.state.specFile, 'utf8')).toBe(saved);
  });

  it('must stop after the first standby when aborted, with the cluster healthy', async () => {
    const ac = new AbortController();
    const running = openCluster({
      spec: cluster.spec,
      state: cluster.state,
      tls: cluster.tls,
      connect: connectVaultNode,
      runtime: () => cluster.runtime,
      tokens: { rootToken: () => cluster.rootToken },
    });
    const err = await upgradeCluster(
      { version: '2.7.2' },
      {
        cluster: running,
        runtime: cluster.runtime,
        progress: cluster.progress,
        signal: ac.signal,
        onStep: (s) => {
          if (s.action === 'recreate') ac.abort();
        },
      },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CancelledError);
    expect(cluster.progress.lines.join('\n')).toMatch(
      /upgrade cancelled: vault-\d recreated with \S+ in this run/,
    );
    expect((err as CancelledError).hint).toMatch(/run the same command again/);
    await healthy();
    const v = await versions();
    expect(v.filter((x) => x === '2.7.2')).toHaveLength(1);
    expect(v.filter((x) => x === '2.6.2')).toHaveLength(2);
  });

  it('must finish the job when run again, under live writes: every node on 2.7.2, nothing lost', async () => {
    const res = await cluster.cli(['upgrade', '--server-version', '2.7.2', '--yes', '--format', 'json']);
    expect(res.exitCode, res.stderr).toBe(0);
    const r = JSON.parse(res.stdout) as UpgradeResult;
    expect(r.outcome).toBe('upgraded');
    expect(r.before.filter((n) => n.upgraded)).toHaveLength(1);
    expect(r.steps.filter((s) => s.action === 'recreate')).toHaveLength(2);
    expect(r.steps.map((s) => s.action)).toEqual(['snapshot', 'recreate', 'step-down', 'recreate']);
    expect(r.after.map((n) => n.version)).toEqual(['2.7.2', '2.7.2', '2.7.2']);
    expect(r.traffic!.acked).toBeGreaterThan(0);
    expect(r.traffic!.lost).toBe(0);
    expect(r.snapshot).toMatch(/\.snap$/);
    snapshotOn262 = r.snapshot!;
    // Saved from the leader, still on 2.6.2 when the rerun began.
    expect(JSON.parse(readFileSync(sidecarPath(snapshotOn262), 'utf8')).version).toBe('2.6.2');
    expect(await versions()).toEqual(['2.7.2', '2.7.2', '2.7.2']);
    expect(await secretsPresent()).toBe(SECRETS);
    const health = await cluster.cli(['health']);
    expect(health.exitCode, health.stdout).toBe(0);
    const plan = await cluster.cli(['up', '--dry-run', '--format', 'json']);
    expect(plan.exitCode, plan.stderr).toBe(0);
    expect(JSON.parse(plan.stdout).steps).toEqual([]);
    const again = await cluster.cli(['upgrade', '--server-version', '2.7.2', '--yes']);
    expect(again.exitCode).toBe(0);
    expect(again.stdout).toMatch(/Nothing to do/);
  });

  it('must refuse a downgrade, exit 1, nothing touched', async () => {
    const before = await containerIds();
    const res = await cluster.cli(['upgrade', '--image', OLD, '--yes']);
    expect(res.exitCode, res.stderr).toBe(1);
    expect(res.stderr).toMatch(/Error refusing the upgrade: 2\.6\.2 is older than/);
    expect(await containerIds()).toEqual(before);
    expect(await versions()).toEqual(['2.7.2', '2.7.2', '2.7.2']);
  });

  it('must restore the snapshot saved on 2.6.2 into the 2.7.2 cluster', async () => {
    expect(snapshotOn262).toBeDefined();
    const api = cluster.api(0);
    await api.kvPut(cluster.spec.kv.path, 'seed/s0', { value: 'changed after the snapshot' });
    const res = await cluster.cli(['snapshot', 'restore', snapshotOn262!, '--yes']);
    expect(res.exitCode, res.stderr).toBe(0);
    await healthy();
    expect(await versions()).toEqual(['2.7.2', '2.7.2', '2.7.2']);
    expect(await secretsPresent()).toBe(SECRETS);
  });
});
