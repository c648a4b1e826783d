/**
 * Least privilege, checked on real containers: every container of a default cluster, one with
 * monitoring, one with the transit unsealer and one with the dev KMS runs as a non-root uid, with
 * every capability dropped, a read-only root filesystem, no-new-privileges and memory and pids
 * limits; `bao operator diagnose` finds nothing wrong with the nodes' ownership or permissions; and
 * a cluster made the way the previous release made it (root process, root-owned volumes) is
 * hardened by `up`, one node at a time, without losing an acknowledged write.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { upCluster } from '../../src/lifecycle/up.js';
import { DockerRuntime } from '../../src/runtime/docker.js';
import type { ContainerSpec } from '../../src/runtime/port.js';
import { LABELS } from '../../src/runtime/port.js';
import { endpointAddress, nodeConfigDir } from '../../src/spec/names.js';
import { localImage, PINNED } from '../../src/spec/schema.js';
import { connectVaultNode } from '../../src/vault/api.js';
import { docker, eventually, removeClusterResources, TestCluster } from '../helpers/cluster.js';
import { HAPROXY_IMAGE, PROMETHEUS_IMAGE } from '../helpers/paths.js';

const SERVICE = { uid: 10001, gid: 10001 };

interface Hardening {
  readonly name: string;
  readonly kind: string;
  readonly user: string;
  readonly processUid: number;
  readonly capDrop: readonly string[];
  readonly capAdd: readonly string[];
  readonly readOnly: boolean;
  readonly noNewPrivileges: boolean;
  readonly memory: number;
  readonly pids: number;
}

/** What Docker says about every running container of the cluster, and the uid its process has. */
async function inspectCluster(name: string): Promise<Hardening[]> {
  const list = await docker.listContainers({ filters: { label: [`${LABELS.cluster}=${name}`] } });
  return Promise.all(
    list.map(async (c) => {
      const i = await docker.getContainer(c.Id).inspect();
      const status = readFileSync(`/proc/${i.State.Pid}/status`, 'utf8');
      const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1] ?? -1);
      return {
        name: i.Name.replace(/^\//, ''),
        kind: i.Config.Labels[LABELS.kind] ?? '?',
        user: i.Config.User,
        processUid: uid,
        capDrop: i.HostConfig.CapDrop ?? [],
        capAdd: i.HostConfig.CapAdd ?? [],
        readOnly: i.HostConfig.ReadonlyRootfs === true,
        noNewPrivileges: (i.HostConfig.SecurityOpt ?? []).some((o: string) =>
          /^no-new-privileges(:true)?$/.test(o),
        ),
        memory: i.HostConfig.Memory ?? 0,
        pids: i.HostConfig.PidsLimit ?? 0,
      };
    }),
  );
}

function expectHardened(all: readonly Hardening[], kinds: readonly string[]): void {
  expect(all.map((c) => c.kind).sort()).toEqual([...kinds].sort());
  for (const c of all) {
    const what = `${c.name} (${c.kind})`;
    expect(c.user, what).toBe(`${SERVICE.uid}:${SERVICE.gid}`);
    expect(c.processUid, what).toBe(SERVICE.uid);
    expect(c.capDrop, what).toEqual(['ALL']);
    expect(c.capAdd, what).toEqual([]);
    expect(c.readOnly, what).toBe(true);
    expect(c.noNewPrivileges, what).toBe(true);
    expect(c.memory, what).toBeGreaterThan(0);
    expect(c.pids, what).toBeGreaterThan(0);
  }
}

/** Owner and mode of a volume's top directory, read on the host (the engine is local). */
async function volumeOwner(name: string): Promise<{ uid: number; mode: number }> {
  const v = await docker.getVolume(name).inspect();
  const st = statSync(v.Mountpoint);
  return { uid: st.uid, mode: st.mode & 0o777 };
}

const cleanup: TestCluster[] = [];
afterAll(async () => {
  for (const c of cleanup) await c.destroy();
});

describe('a default cluster with monitoring', () => {
  const cluster = new TestCluster({
    name: 'vctl-pv-default',
    apiPortBase: 19300,
    endpoint: { image: HAPROXY_IMAGE },
    monitoring: { image: PROMETHEUS_IMAGE, port: 19310, scrapeInterval: '2s' },
  });
  cleanup.push(cluster);
  beforeAll(async () => {
    await removeClusterResources(cluster.name);
  });

  it('runs every container hardened, and the nodes still serve', async () => {
    await cluster.up();
    await cluster.init();
    expectHardened(await inspectCluster(cluster.name), ['node', 'node', 'node', 'endpoint']);
    await cluster.api(0).kvPut('secret', 'hardening/probe', { v: '1' });
    expect((await eventually(() => cluster.api(1).kvGet('secret', 'hardening/probe')))?.data).toEqual({
      v: '1',
    });
    // The state files the nodes read belong to the service uid, and still to it alone.
    const key = statSync(cluster.state.sealKeyFile);
    expect([key.uid, key.mode & 0o777]).toEqual([SERVICE.uid, 0o600]);
    const tlsKey = statSync(join(cluster.state.root, 'tls', 'vault-1', 'key.pem'));
    expect([tlsKey.uid, tlsKey.mode & 0o777]).toEqual([SERVICE.uid, 0o600]);
    expect(statSync(cluster.state.root).mode & 0o777).toBe(0o700);
    const data = await volumeOwner(`${cluster.name}-vault-1-data`);
    expect(data).toEqual({ uid: SERVICE.uid, mode: 0o700 });
  }, 240_000);

  it('bao operator diagnose reports no ownership or permission warning on any node', async () => {
    for (const node of cluster.spec.nodes) {
      const name = `${cluster.name}-${node.name}`;
      const info = await docker.getContainer(name).inspect();
      // The static seal makes diagnose 2.6/2.7 panic in its auto-unseal check (a nil wrapper):
      // the copy it reads has no seal stanza; everything it checks about files is the node's own.
      const dir = mkdtempSync(join(tmpdir(), 'vctl-pv-diag-'));
      chmodSync(dir, 0o755);
      const hcl = readFileSync(join(cluster.state.root, nodeConfigDir(node), 'node.hcl'), 'utf8');
      writeFileSync(join(dir, 'node.hcl'), hcl.replace(/^seal "static" \{[\s\S]*?^\}\n/m, ''), {
        mode: 0o644,
      });
      const mounts = (info.Mounts ?? []).map((m) =>
        m.Destination === '/openbao/config'
          ? { Type: 'bind' as const, Source: dir, Target: m.Destination, ReadOnly: true }
          : m.Type === 'volume'
            ? { Type: 'volume' as const, Source: m.Name!, Target: m.Destination }
            : { Type: 'bind' as const, Source: m.Source, Target: m.Destination, ReadOnly: true },
      );
      await docker.getContainer(name).stop({ t: 30 });
      let output = '';
      try {
        const c = await docker.createContainer({
          Image: info.Config.Image,
          User: info.Config.User,
          Entrypoint: ['/bin/bao'],
          Cmd: ['operator', 'diagnose', '-config', '/openbao/config/node.hcl'],
          Env: ['NO_COLOR=1'],
          Labels: { [LABELS.cluster]: cluster.name },
          HostConfig: {
            NetworkMode: 'none',
            Mounts: mounts,
            CapDrop: ['ALL'],
            ReadonlyRootfs: true,
            Tmpfs: { '/tmp': 'rw,size=16m' },
          },
        });
        await c.start();
        await c.wait();
        output = (await c.logs({ stdout: true, stderr: true })).toString('utf8');
        await c.remove({ force: true });
      } finally {
        await docker.getContainer(name).start();
        rmSync(dir, { recursive: true, force: true });
      }
      expect(output, node.name).toMatch(/Check Storage/);
      expect(output, node.name).toMatch(/Check Raft Folder Permissions/);
      const problems = output
        .split('\n')
        .filter((l) => /warning|failure/.test(l))
        .filter((l) => /perm|owner|owned|root|privilege|access/i.test(l));
      expect(problems, `${node.name}:\n${output}`).toEqual([]);
      const telemetryOnly = output
        .split('\n')
        .filter((l) => /\[ failure \]/.test(l) && !/Vault Diagnose|Check Telemetry/.test(l));
      expect(telemetryOnly, `${node.name}:\n${output}`).toEqual([]);
    }
    await eventually(async () => {
      for (let i = 0; i < 3; i++) expect((await cluster.api(i).health()).sealed).toBe(false);
    }, 60_000);
  }, 300_000);

  it('monitoring: Prometheus runs hardened and still scrapes every node with its 0600 token', async () => {
    const res = await cluster.cli(['up', '--monitoring']);
    expect(res.exitCode, res.stderr).toBe(0);
    expect((await cluster.cli(['init'])).exitCode).toBe(0);
    expectHardened(await inspectCluster(cluster.name), ['node', 'node', 'node', 'endpoint', 'monitoring']);
    await eventually(async () => {
      const r = await fetch('http://127.0.0.1:19310/api/v1/targets');
      const body = (await r.json()) as { data: { activeTargets: { health: string }[] } };
      const up = body.data.activeTargets.filter((t) => t.health === 'up').length;
      expect(up).toBeGreaterThanOrEqual(3);
    }, 60_000);
  }, 300_000);
});

describe('a transit-sealed cluster with its unsealer', () => {
  const cluster = new TestCluster({ name: 'vctl-pv-transit', apiPortBase: 19320, seal: { type: 'transit' } });
  cleanup.push(cluster);
  beforeAll(async () => {
    await removeClusterResources(cluster.name);
  });
  it('runs the unsealer and every node hardened, and auto-unseals through it', async () => {
    await cluster.up();
    await cluster.init();
    expectHardened(await inspectCluster(cluster.name), ['node', 'node', 'node', 'endpoint', 'unsealer']);
    await docker.getContainer(`${cluster.name}-vault-2`).restart({ t: 30 });
    await eventually(async () => expect((await cluster.api(1).health()).sealed).toBe(false), 60_000);
  }, 300_000);
});

describe('an awskms cluster with the dev KMS', () => {
  const cluster = new TestCluster({
    name: 'vctl-pv-kms',
    apiPortBase: 19340,
    image: localImage('openbao', PINNED.openbaoPrevious),
    seal: { devKms: { enabled: true } },
  });
  cleanup.push(cluster);
  beforeAll(async () => {
    await removeClusterResources(cluster.name);
  });
  it('runs moto and every node hardened, and the nodes unseal through it', async () => {
    await cluster.up();
    await cluster.init();
    expectHardened(await inspectCluster(cluster.name), ['node', 'node', 'node', 'endpoint', 'kms']);
    expect((await cluster.api(0).health()).sealed).toBe(false);
  }, 300_000);
});

describe("a cluster made the previous release's way", () => {
  const cluster = new TestCluster({ name: 'vctl-pv-migrate', apiPortBase: 19360 });
  cleanup.push(cluster);
  beforeAll(async () => {
    await removeClusterResources(cluster.name);
  });

  it('up hardens every node one at a time: 0 acknowledged writes lost, all data read back', async () => {
    // The previous release: no security profile, root in the container, its own config hash.
    const real = new DockerRuntime();
    const legacy = Object.create(real) as DockerRuntime;
    legacy.createContainer = (spec: ContainerSpec) => {
      const { security: _s, user: _u, ...rest } = spec;
      return real.createContainer({
        ...rest,
        labels: { ...rest.labels, [LABELS.configHash]: 'previous-release' },
      });
    };
    await upCluster(cluster.spec, cluster.state, {
      runtime: legacy,
      connect: connectVaultNode,
      progress: cluster.progress,
    });
    await cluster.init();
    const before = await inspectCluster(cluster.name);
    expect(before.filter((c) => c.kind === 'node').map((c) => c.processUid)).toEqual([0, 0, 0]);
    expect((await volumeOwner(`${cluster.name}-vault-1-data`)).uid).toBe(0);
    for (let i = 0; i < 50; i++) await cluster.api(0).kvPut('secret', `before/${i}`, { i });

    // Writes through the endpoint for as long as `up` runs; what was acknowledged must be there.
    const endpoint = connectVaultNode({
      address: endpointAddress(cluster.spec)!,
      token: cluster.rootToken,
      tls: cluster.tls,
      timeoutMs: 3000,
    });
    const acked: number[] = [];
    let failed = 0;
    let stop = false;
    const writer = (async () => {
      for (let i = 0; !stop; i++) {
        try {
          await endpoint.kvPut('secret', `during/${i}`, { i });
          acked.push(i);
        } catch {
          failed++;
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    })();
    const t0 = Date.now();
    const res = await cluster.up();
    const ms = Date.now() - t0;
    stop = true;
    await writer;
    console.log(
      `migration: ${ms} ms, ${acked.length} writes acknowledged, ${failed} failed; load ${readFileSync('/proc/loadavg', 'utf8').trim()}`,
    );
    expect(cluster.progress.lines.some((l) => /one node at a time/.test(l))).toBe(true);
    expect(res.plan.steps.filter((s) => s.action === 'remove-container').map((s) => s.target)).toEqual([
      ...cluster.spec.nodes.map((n) => `${cluster.name}-${n.name}`),
      `${cluster.name}-endpoint`,
    ]);

    expectHardened(await inspectCluster(cluster.name), ['node', 'node', 'node', 'endpoint']);
    for (const n of cluster.spec.nodes)
      expect(await volumeOwner(`${cluster.name}-${n.name}-data`)).toEqual({ uid: SERVICE.uid, mode: 0o700 });
    expect(acked.length).toBeGreaterThan(20);
    const api = cluster.api(0);
    const lost: number[] = [];
    for (const i of acked) if (!(await eventually(() => api.kvGet('secret', `during/${i}`)))) lost.push(i);
    expect(lost).toEqual([]);
    for (let i = 0; i < 50; i++) expect((await api.kvGet('secret', `before/${i}`))?.data).toEqual({ i });
    // The nodes write raft data and audit logs as the service uid after the migration.
    await api.kvPut('secret', 'after', { ok: true });
    expect((await eventually(() => cluster.api(2).kvGet('secret', 'after')))?.data).toEqual({ ok: true });
    // And a second `up` has nothing to do.
    expect((await cluster.up()).plan.steps).toEqual([]);
  }, 600_000);
});
