/**
 * Issue 26 on a real cluster: the operation lock (item 3) and `init` without its state dir (item
 * 4). While a `failover-drill` runs through the CLI, `down` and `snapshot restore` are refused
 * (exit 1) naming the drill, its pid and host, nothing is removed or restored, `health` (read-only)
 * is not refused, and the drill ends with no acknowledged write lost. A lock left by a dead process
 * is released by the next operation. `init` with the state dir moved away refuses, naming the
 * missing dir and the running containers, instead of connecting to the default ports.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCK_FILE } from '../../src/lock/lock.js';
import { docker, removeClusterResources, TestCluster } from '../helpers/cluster.js';
import { CLI } from '../helpers/paths.js';

const cluster = new TestCluster({ name: 'vctl-df-lock', apiPortBase: 19200 });
let snapshot = '';

async function containers(): Promise<string[]> {
  const list = await docker.listContainers({
    all: true,
    filters: { label: [`io.vaultctl.cluster=${cluster.name}`] },
  });
  // Names and ids: the drill pauses and resumes a node, so the state changes under it.
  return list.map((c) => `${c.Names[0]} ${c.Id}`).sort();
}

beforeAll(async () => {
  await removeClusterResources(cluster.name);
  await cluster.up();
  await cluster.init();
  await cluster.api(0).kvPut(cluster.spec.kv.path, 'lock/before', { value: 'v1' });
  const dir = join(cluster.base, 'snaps');
  mkdirSync(dir, { mode: 0o700 });
  const save = await cluster.cli(['snapshot', 'save', '--dir', dir, '--format', 'json']);
  expect(save.exitCode, save.stderr).toBe(0);
  snapshot = join(dir, JSON.parse(save.stdout).file as string);
}, 240_000);
afterAll(async () => {
  await cluster.destroy();
});

describe('operation lock (issue 26 item 3)', () => {
  it('refuses down and snapshot restore while a drill runs; health is not refused; the drill loses nothing', async () => {
    const drill = execa(
      'node',
      [
        CLI,
        '--cluster',
        cluster.name,
        'failover-drill',
        '--fault',
        'pause',
        '--duration',
        '12s',
        '--max-rto',
        '30s',
        '--format',
        'json',
        '--yes',
      ],
      { cwd: cluster.base, env: { NO_COLOR: '1', CI: 'true' }, reject: false, stdin: 'ignore' },
    );
    let err = '';
    drill.stderr?.on('data', (d: Buffer) => {
      err += d.toString();
    });
    const start = Date.now();
    while (!/pause vault-\d/.test(err) && Date.now() - start < 90_000)
      await new Promise((r) => setTimeout(r, 100));
    expect(err).toMatch(/pause vault-\d/);
    const before = await containers();

    const down = await cluster.cli(['down', '--yes']);
    expect(down.exitCode, down.stderr).toBe(1);
    expect(down.stderr).toContain(
      `Error starting down: the cluster is busy: \`failover-drill\` holds the cluster's operation lock (pid ${drill.pid} on host ${hostname()}, since `,
    );
    expect(down.stderr).toMatch(
      /hint: nothing was changed; run this again once `failover-drill` has finished/,
    );
    const restore = await cluster.cli(['snapshot', 'restore', snapshot, '--yes']);
    expect(restore.exitCode, restore.stderr).toBe(1);
    expect(restore.stderr).toContain(
      'Error starting snapshot restore: the cluster is busy: `failover-drill` holds',
    );
    const health = await cluster.cli(['health']);
    expect(health.stderr).not.toMatch(/busy/);
    expect(await containers()).toEqual(before);

    const res = await drill;
    expect(res.exitCode, err).toBe(0);
    const report = JSON.parse(String(res.stdout)) as {
      summary: { ok: boolean; lostWrites: number };
      keysLeft: number;
    };
    expect(report.summary).toMatchObject({ ok: true, lostWrites: 0 });
    expect(report.keysLeft).toBe(0);
    expect(existsSync(join(cluster.state.root, LOCK_FILE))).toBe(false);
  }, 180_000);

  it('releases a lock left by a process that died on this host: the next operation runs', async () => {
    const dead = Number(
      spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' })
        .stdout,
    );
    const now = new Date().toISOString();
    const ns = spawnSync('readlink', ['/proc/self/ns/pid'], { encoding: 'utf8' }).stdout.trim();
    const boot = spawnSync('cat', ['/proc/sys/kernel/random/boot_id'], { encoding: 'utf8' }).stdout.trim();
    writeFileSync(
      join(cluster.state.root, LOCK_FILE),
      JSON.stringify({
        version: 1,
        operation: 'upgrade',
        pid: dead,
        host: hostname(),
        pidNamespace: ns,
        bootId: boot,
        since: now,
        heartbeat: now,
        token: 'x',
      }),
      { mode: 0o600 },
    );
    const up = await cluster.cli(['up']);
    expect(up.exitCode, up.stderr).toBe(0);
    expect(existsSync(join(cluster.state.root, LOCK_FILE))).toBe(false);
  }, 120_000);
});

describe('init without its state dir (issue 26 item 4)', () => {
  it('refuses, naming the missing state dir and the running containers, and contacts no node', async () => {
    const aside = `${cluster.state.root}.aside`;
    renameSync(cluster.state.root, aside);
    try {
      const res = await cluster.cli(['init']);
      expect(res.exitCode, res.stderr).toBe(1);
      expect(res.stderr).toContain(
        `Error initialising the cluster: the state dir ${cluster.state.root} is missing`,
      );
      expect(res.stderr).toContain(`but cluster ${cluster.name} runs (`);
      expect(res.stderr).toContain(`${cluster.container(0)}, `);
      expect(res.stderr).not.toMatch(/TLS|8200/);
      expect(readdirSync(join(cluster.state.root, '..'))).not.toContain(cluster.name);
    } finally {
      renameSync(aside, cluster.state.root);
    }
  });
});
