/**
 * The awskms seal for real: OpenBao 2.6.2 (the last with the seal built in) auto-unseals through
 * moto's KMS API, which runs as its own container on the cluster network (`up --dev-kms`). A full
 * restart of every node comes back unsealed with no key typed. OpenBao 2.7.2 without a KMS plugin
 * is refused before anything is created. The KMS-outage drill cuts the dev KMS off the network.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkHealth } from '../../src/health/health.js';
import { devKmsContainerName } from '../../src/spec/dev-kms-names.js';
import { localImage, PINNED } from '../../src/spec/schema.js';
import {
  clusterResources,
  eventually,
  removeClusterResources,
  runCli,
  TestCluster,
} from '../helpers/cluster.js';
import { expectSealOutageDrillPasses } from '../helpers/seal-drill.js';

const PREVIOUS_IMAGE = localImage('openbao', PINNED.openbaoPrevious);
const cluster = new TestCluster({
  name: 'vctl-it-awskms',
  apiPortBase: 18800,
  image: PREVIOUS_IMAGE,
  seal: { devKms: { enabled: true } },
});
const targets = () => cluster.spec.nodes.map((n, i) => ({ name: n.name, address: cluster.address(i) }));
const path = (i: number) => `tenants/t${i % 10}/exchanges/ex${i}/trading`;

beforeAll(async () => {
  await removeClusterResources(cluster.name);
});
afterAll(async () => {
  await cluster.destroy();
});

describe('awskms on OpenBao 2.6.2 through moto on the cluster network', () => {
  it('up starts the dev KMS and the nodes; init creates recovery shares; the nodes unseal themselves', async () => {
    const up = await cluster.cli(['up', '--dev-kms', '--image', PREVIOUS_IMAGE, '--api-port', '18800']);
    expect(up.exitCode, up.stderr).toBe(0);
    expect(up.stderr).toContain('dev KMS: created the key alias/vaultctl-vctl-it-awskms');
    const kms = await cluster.runtime.listContainers({ 'io.vaultctl.cluster': cluster.name });
    expect(kms.find((c) => c.name === devKmsContainerName(cluster.name))?.state).toBe('running');

    const init = await cluster.cli(['init', '--format', 'json']);
    expect(init.exitCode, init.stderr).toBe(0);
    expect(JSON.parse(init.stdout).voters).toHaveLength(3);
    const material = cluster.state.readInit()!;
    expect(material.keyKind).toBe('recovery');
    expect(material.keys).toHaveLength(5);
    const health = await cluster.cli(['health', '--wait', '60s']);
    expect(health.exitCode, health.stdout).toBe(0);
  });

  it('100 secrets survive a full restart of every node, which comes back unsealed with no key typed', async () => {
    const api = cluster.api(0);
    for (let i = 0; i < 100; i++) await api.kvPut('secret', path(i), { api_key: `key-${i}` });

    for (let i = 0; i < 3; i++) await cluster.runtime.stopContainer(cluster.container(i), 10);
    await eventually(async () => {
      const h = await checkHealth(targets(), 3, cluster.healthDeps(false));
      expect(h.nodes.every((n) => !n.reachable)).toBe(true);
    }, 30_000);
    for (let i = 0; i < 3; i++) await cluster.runtime.startContainer(cluster.container(i));

    // Nobody unseals: `health --wait` only watches.
    const health = await cluster.cli(['health', '--wait', '120s']);
    expect(health.exitCode, health.stdout).toBe(0);
    const h = await checkHealth(targets(), 3, cluster.healthDeps());
    expect(h.nodes.every((n) => n.reachable && !n.sealed)).toBe(true);
    for (let i = 0; i < 100; i++) {
      const got = await cluster.api(i % 3).kvGet('secret', path(i));
      expect(got?.data).toEqual({ api_key: `key-${i}` });
    }
    const logs = await cluster.runtime.containerLogs(cluster.container(0), 200);
    expect(logs).toContain('Auto Seal: awskms');
  });

  it('the KMS unavailable (failover-drill --fault seal, the dev KMS cut off): down naming the seal backend, back: every node unseals itself, 0 lost', async () => {
    const r = await expectSealOutageDrillPasses(cluster);
    expect(r.backend).toContain('dev KMS');
    // The KMS kept its key through the cut: the 100 secrets are still there.
    for (let i = 0; i < 100; i += 7) {
      const got = await cluster.api(i % 3).kvGet('secret', path(i));
      expect(got?.data).toEqual({ api_key: `key-${i}` });
    }
  });
});

describe('awskms on OpenBao 2.7.2 without a KMS plugin', () => {
  const name = 'vctl-it-awskms27';
  const dir = mkdtempSync(join(tmpdir(), `vaultctl-${name}-`));
  afterAll(async () => {
    await removeClusterResources(name);
    rmSync(dir, { recursive: true, force: true });
  });

  it('is refused at validation (exit 1) with the reason and both ways out; nothing is created', async () => {
    writeFileSync(
      join(dir, 'vaultctl.yaml'),
      [
        `name: ${name}`,
        'apiPortBase: 18820',
        `version: ${PINNED.openbao}`,
        'seal:',
        '  type: awskms',
        '  awskms: {region: eu-central-1, kmsKeyId: alias/unseal}',
        '',
      ].join('\n'),
    );
    for (const args of [['up'], ['render'], ['up', '--dry-run']]) {
      const res = await runCli(args, { cwd: dir });
      expect(res.exitCode, res.stderr).toBe(1);
      expect(res.stderr).toContain('seal.type');
      expect(res.stderr).toContain('OpenBao 2.7 moved the cloud KMS seals');
      expect(res.stderr).toContain('seal.awskms.plugin');
      expect(res.stderr).toContain(`--server-version ${PINNED.openbaoPrevious}`);
    }
    expect(await clusterResources(name)).toEqual({ containers: 0, networks: 0, volumes: 0 });
    expect(existsSync(join(dir, '.vaultctl', name))).toBe(false);
    expect(existsSync(join(dir, '.vaultctl'))).toBe(false);
  });
});
