/**
 * Disk watch on a real cluster: vault-1's audit volume is an 8 MiB tmpfs on the host,
 * bind-mounted as the named volume (as audit-outage.test.ts does). Filled past 80 %, `health` is
 * degraded naming vault-1's audit volume (the node still audits: not down); with an earlier sample
 * in the agent's status dir, the time to full at the growth since then. Also measures the audit
 * bytes per read and per write request on the active node (printed for the README's figures).
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, statfsSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureToolboxImage } from '../../src/audit/toolbox.js';
import { openCluster } from '../../src/cluster/running.js';
import { measureDisk, recordDiskSample } from '../../src/health/disk-probe.js';
import { volumeName } from '../../src/spec/names.js';
import { connectVaultNode } from '../../src/vault/api.js';
import { docker, removeClusterResources, TestCluster } from '../helpers/cluster.js';

const cluster = new TestCluster({ name: 'vctl-dk-watch', apiPortBase: 19980 });
const logsDir = mkdtempSync(join(tmpdir(), 'vctl-dk-watch-logs-'));
const FILLER = join(logsDir, 'filler');

/** Writes `bytes` of filler into the tmpfs behind vault-1's audit volume. */
function fillTo(bytes: number): void {
  const fd = openSync(FILLER, 'w');
  try {
    const chunk = Buffer.alloc(16 * 1024, 1);
    for (let left = bytes; left > 0; left -= chunk.length)
      writeSync(fd, chunk, 0, Math.min(left, chunk.length));
  } finally {
    closeSync(fd);
  }
}

const freeBytes = () => {
  const s = statfsSync(logsDir);
  return s.bavail * s.bsize;
};

beforeAll(async () => {
  await removeClusterResources(cluster.name);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m,mode=1777', 'tmpfs', logsDir]);
  await docker.createVolume({
    Name: volumeName(cluster.spec, cluster.node(0), 'logs'),
    Labels: {
      'io.vaultctl.cluster': cluster.name,
      'io.vaultctl.node': 'vault-1',
      'io.vaultctl.kind': 'logs',
    },
    DriverOpts: { type: 'none', o: 'bind', device: logsDir },
  });
  await cluster.up();
  await cluster.init();
});

afterAll(async () => {
  await cluster.destroy();
  execFileSync('umount', [logsDir]);
  rmSync(logsDir, { recursive: true, force: true });
});

interface DiskRow {
  node: string;
  volume: string;
  usedPercent: number;
  fsSizeBytes: number;
  problems: string[];
  timeToFullSec?: number;
  rateUnknown?: string;
}

async function healthJson(): Promise<{
  exitCode: number;
  json: { verdict: string; reasons: string[]; disk: { volumes: DiskRow[] } };
}> {
  const r = await cluster.cli(['--format', 'json', 'health']);
  return { exitCode: r.exitCode, json: JSON.parse(r.stdout) };
}

describe('disk watch', () => {
  it("health shows every node's audit and raft volume; past 80 % it is degraded naming vault-1's audit volume", async () => {
    const ok = await healthJson();
    expect(ok.exitCode, JSON.stringify(ok.json.reasons)).toBe(0);
    const rows = ok.json.disk.volumes;
    expect(rows.map((v) => `${v.node}/${v.volume}`).sort()).toEqual([
      'vault-1/audit',
      'vault-1/raft',
      'vault-2/audit',
      'vault-2/raft',
      'vault-3/audit',
      'vault-3/raft',
    ]);
    const audit1 = rows.find((v) => v.node === 'vault-1' && v.volume === 'audit')!;
    expect(audit1.fsSizeBytes).toBe(8 * 1024 * 1024);
    expect(audit1.rateUnknown).toMatch(/no earlier sample/);

    // 90 % used: the node still audits (not down), the volume is past the threshold.
    fillTo(Math.floor(freeBytes() - 0.8 * 1024 * 1024));
    const full = await cluster.cli(['health']);
    expect(full.exitCode, full.stdout).toBe(1);
    expect(full.stdout).toMatch(/degraded/);
    expect(full.stdout).toMatch(
      /disk: vault-1's audit volume is (8[0-9]|9[0-9])% full \(.* free of 8\.0 MiB/,
    );
    expect(full.stdout).toMatch(/Disk \(rate unknown/);
    expect(full.stdout).not.toMatch(/vault-[23]'s audit volume is/);
  });

  it("with the agent's earlier sample, health gives the time to full and is degraded under 24 h", async () => {
    rmSync(FILLER, { force: true });
    const runtime = cluster.runtime;
    const before = await measureDisk(cluster.spec, runtime, await ensureToolboxImage(runtime));
    // The agent's sample an hour ago, as its disk job writes it.
    recordDiskSample(cluster.state.root, { ...before, at: before.at - 3600_000 });
    const healthy = await healthJson();
    expect(healthy.exitCode, JSON.stringify(healthy.json.reasons)).toBe(0);
    fillTo(2 * 1024 * 1024);
    const r = await healthJson();
    expect(r.exitCode, JSON.stringify(r.json.reasons)).toBe(1);
    const audit1 = r.json.disk.volumes.find((v) => v.node === 'vault-1' && v.volume === 'audit')!;
    // About 2 MiB in an hour with about 6 MiB free: full in about 3 hours.
    expect(audit1.timeToFullSec).toBeGreaterThan(3600);
    expect(audit1.timeToFullSec).toBeLessThan(6 * 3600);
    expect(r.json.reasons.join('\n')).toMatch(
      /disk: vault-1's audit volume is full in [\d.]+ h at 2\.\d MiB\/h \(threshold 1\.0 d\)/,
    );
    rmSync(FILLER, { force: true });
  });

  it('audit bytes per read and per write request on the active node (figures for the README)', async () => {
    const open = openCluster({
      spec: cluster.spec,
      state: cluster.state,
      tls: cluster.tls,
      connect: connectVaultNode,
      runtime: () => cluster.runtime,
    });
    const active = (await open.active({ timeoutMs: 5000 }))!;
    const i = cluster.spec.nodes.findIndex((n) => n.name === active.name);
    const runtime = cluster.runtime;
    const image = await ensureToolboxImage(runtime);
    const volume = volumeName(cluster.spec, cluster.node(i), 'logs');
    const size = async () => {
      const r = await runtime.runImage(
        image,
        ['/bin/busybox'],
        ['sh', '-c', `stat -c %s /a/${cluster.spec.audit.file}`],
        30_000,
        {
          volumes: [{ volume, target: '/a', readOnly: true }],
          user: '0:0',
        },
      );
      return Number(r.output.trim());
    };
    const api = cluster.api(i);
    const N = 300;
    const value = { value: 'x'.repeat(64) };
    const s0 = await size();
    for (let k = 0; k < N; k++) await api.kvPut('secret', `vctl-dk/item-${k}`, value);
    const s1 = await size();
    for (let k = 0; k < N; k++) expect((await api.kvGet('secret', `vctl-dk/item-${k}`))?.data).toEqual(value);
    const s2 = await size();
    // What rotation's gzip makes of these entries (busybox gzip, as `audit rotate` runs it).
    const gz = await runtime.runImage(
      image,
      ['/bin/busybox'],
      ['sh', '-c', `gzip -c /a/${cluster.spec.audit.file} | wc -c`],
      30_000,
      { volumes: [{ volume, target: '/a', readOnly: true }], user: '0:0' },
    );
    const ratio = s2 / Number(gz.output.trim());
    console.log(`gzip of ${s2} bytes of audit log: ${gz.output.trim()} bytes (${ratio.toFixed(1)}x smaller)`);
    expect(ratio).toBeGreaterThan(2);
    const perWrite = (s1 - s0) / N;
    const perRead = (s2 - s1) / N;
    console.log(
      `audit bytes per request on ${active.name} (${cluster.spec.image}): write ${perWrite.toFixed(0)}, read ${perRead.toFixed(0)} (${N} each, 64-byte value), load ${execFileSync('cat', ['/proc/loadavg']).toString().trim()}`,
    );
    expect(perWrite).toBeGreaterThan(500);
    expect(perRead).toBeGreaterThan(500);
  });
});
