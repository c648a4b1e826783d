/**
 * `up --agent` against real parts: a real OpenBao cluster, the agent image built from this host's
 * node and the built project, `vaultctl agent` in its container on the cluster network. A schedule
 * every 4 s with a directory destination: snapshots appear there, written by the container, and
 * `snapshot status` on the host says so; the container is hardened like every other one, its
 * metrics on 127.0.0.1 only; `down` removes it.
 */
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LABELS } from '../../src/runtime/port.js';
import { docker, eventually, removeClusterResources, TestCluster } from '../helpers/cluster.js';
import { IMAGE } from '../helpers/paths.js';

const NAME = 'vctl-au2-agent';
const METRICS_PORT = 19920;
const work = mkdtempSync(join(tmpdir(), 'vctl-au2-'));
const backups = join(work, 'backups');
const input = {
  name: NAME,
  image: IMAGE,
  apiPortBase: 19900,
  backup: {
    schedule: '@every 4s',
    maxAge: '1h',
    metricsPort: METRICS_PORT,
    destinations: [{ url: backups, keep: 3 }],
  },
};
const cluster = new TestCluster(input);
const agentName = `${NAME}-agent`;
/** The image `up --agent` built (its tag hashes the build): removed at the end. */
let agentImage: string | undefined;

async function until(what: string, fn: () => Promise<boolean> | boolean, timeoutMs: number): Promise<void> {
  const start = Date.now();
  while (!(await fn())) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

beforeAll(async () => {
  await removeClusterResources(NAME);
  writeFileSync(join(cluster.base, 'vaultctl.yaml'), JSON.stringify(input));
}, 60_000);

afterAll(async () => {
  await cluster.destroy();
  if (agentImage)
    await docker
      .getImage(agentImage)
      .remove()
      .catch(() => undefined);
  rmSync(work, { recursive: true, force: true });
}, 120_000);

describe('up --agent: vaultctl agent in its container', () => {
  it('up --agent builds the image, starts <cluster>-agent after the nodes; init gives it its token', async () => {
    const up = await cluster.cli(['up', '--agent']);
    expect(up.exitCode, up.stderr).toBe(0);
    expect(up.stdout).toContain(agentName);
    const init = await cluster.cli(['init']);
    expect(init.exitCode, init.stderr).toBe(0);
    // Remembered: a plain `up` keeps the agent and has nothing to do.
    const again = await cluster.cli(['up', '--format', 'json']);
    expect(again.exitCode, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout).steps).toEqual([]);
  }, 600_000);

  it('snapshots appear in the directory from the container; snapshot status says so', async () => {
    await until(
      'two snapshots from the agent container',
      () => readdirSync(backups).filter((f) => f.endsWith('.snap')).length >= 2,
      120_000,
    );
    const s = await cluster.cli(['snapshot', 'status', '--format', 'json']);
    expect(s.exitCode, s.stderr).toBe(0);
    const st = JSON.parse(s.stdout) as {
      destinations: {
        url?: string;
        destination?: string;
        consecutiveFailures: number;
        lastSuccessAt?: string;
      }[];
    };
    expect(st.destinations).toHaveLength(1);
    expect(st.destinations[0]!.consecutiveFailures).toBe(0);
    expect(st.destinations[0]!.lastSuccessAt).toBeTruthy();
    // The agent's log: JSON lines from the container, the nodes by network name.
    const logs = (
      await docker.getContainer(agentName).logs({ stdout: true, stderr: true, follow: false })
    ).toString('utf8');
    expect(logs).toContain('job done');
    // Metrics published on the host's loopback only.
    const text = await eventually(async () => {
      const r = await fetch(`http://127.0.0.1:${METRICS_PORT}/metrics`);
      if (!r.ok) throw new Error(`metrics ${r.status}`);
      return r.text();
    }, 20_000);
    expect(text).toMatch(/vaultctl_backup_last_success_timestamp_seconds\{[^}]*\} [1-9]/);
  }, 180_000);

  it('the agent container is hardened like every other one', async () => {
    const info = await docker.getContainer(agentName).inspect();
    agentImage = info.Config.Image;
    const hc = info.HostConfig;
    expect(info.Config.Labels[LABELS.kind]).toBe('agent');
    expect(info.Config.User).toMatch(/^[1-9]\d*:[1-9]\d*$/);
    expect(hc.CapDrop).toEqual(['ALL']);
    expect(hc.CapAdd ?? []).toEqual([]);
    expect(hc.ReadonlyRootfs).toBe(true);
    expect(hc.SecurityOpt).toContain('no-new-privileges:true');
    expect(hc.Memory).toBeGreaterThan(0);
    expect(hc.PidsLimit).toBeGreaterThan(0);
    expect(Object.keys(hc.Tmpfs ?? {})).toContain('/tmp');
    expect(hc.RestartPolicy?.Name).toBe('unless-stopped');
    for (const bindings of Object.values(hc.PortBindings ?? {}) as { HostIp: string }[][])
      for (const b of bindings) expect(b.HostIp).toBe('127.0.0.1');
    // It sees the state dir's agent pieces only: no init.json (keys, root token), no seal key.
    const binds = (info.Mounts ?? []).map((m) => m.Source);
    expect(binds.some((b) => b.endsWith('init.json') || b.endsWith('seal.key'))).toBe(false);
    expect(binds.some((b) => b === cluster.state.root)).toBe(false);
    const ro = (info.Mounts ?? []).filter((m) => !m.RW).map((m) => m.Destination);
    expect(ro).toContain(`/var/lib/vaultctl/${NAME}/cluster.json`);
    expect(ro).toContain(`/var/lib/vaultctl/${NAME}/tls/ca.pem`);
    expect(info.State.Running).toBe(true);
  });

  it('down removes the agent container with the nodes', async () => {
    const down = await cluster.cli(['down']);
    expect(down.exitCode, down.stderr).toBe(0);
    const left = await docker.listContainers({
      all: true,
      filters: { label: [`${LABELS.cluster}=${NAME}`] },
    });
    expect(left.map((c) => c.Names[0])).toEqual([]);
  }, 120_000);
});
