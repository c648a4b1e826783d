/**
 * An active node whose only audit device cannot write (its audit volume full), on a real cluster
 * with a real HAProxy endpoint. The volume of vault-1's audit logs is a 4 MiB tmpfs on the host,
 * bind-mounted as a named volume, so it stays full across a restart of the node (a tmpfs volume
 * of Docker's own would be emptied when its container stops).
 *
 * Phase 1: full -> every request fails; `health` is down (exit 2) naming the audit device;
 * `snapshot save` says why with a hint; HAProxy marks the node down (it answers 500 to the
 * audited part of the check). Freed -> served again without a restart.
 * Phase 2: full again -> `stepDownAuditBlocked` restarts vault-1, a standby takes over, the
 * endpoint serves again: the outage is measured from the first failed write to the first served
 * one. Every acknowledged write is read back.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stepDownAuditBlocked } from '../../src/audit/step-down.js';
import { openCluster } from '../../src/cluster/running.js';
import { endpointAddress, endpointContainerName, volumeName } from '../../src/spec/names.js';
import { connectVaultNode } from '../../src/vault/api.js';
import { docker, eventually, removeClusterResources, TestCluster } from '../helpers/cluster.js';

const cluster = new TestCluster({ name: 'vctl-au-outage', apiPortBase: 19710 });
const logsDir = mkdtempSync(join(tmpdir(), 'vctl-au-outage-logs-'));
const FILLER = join(logsDir, 'filler');

/** Fills the audit volume to the last byte (ENOSPC ends it). */
function fill(): void {
  const fd = openSync(FILLER, 'w');
  const chunk = Buffer.alloc(16 * 1024, 1);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (err) {
    expect((err as NodeJS.ErrnoException).code).toBe('ENOSPC');
  } finally {
    closeSync(fd);
  }
}

function free(): void {
  rmSync(FILLER, { force: true });
}

/** A writer through the endpoint, as an application that knows one address. */
function startWriter() {
  const api = connectVaultNode({
    address: endpointAddress(cluster.spec)!,
    token: cluster.rootToken,
    tls: cluster.tls,
    timeoutMs: 2000,
  });
  const acked: number[] = [];
  const events: { t: number; ok: boolean }[] = [];
  let stop = false;
  let n = 0;
  const done = (async () => {
    while (!stop) {
      const i = n++;
      const t = performance.now();
      const ok = await api
        .kvPut('secret', `vctl-au-outage/w-${i}`, { n: i })
        .then(() => true)
        .catch(() => false);
      if (ok) acked.push(i);
      events.push({ t, ok });
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  return {
    acked,
    events,
    /** First failed write after `since`, and the first served one after it (ms, performance.now). */
    outage(since: number): { failedAt?: number; servedAt?: number } {
      const failed = events.find((e) => e.t >= since && !e.ok);
      const served = failed ? events.find((e) => e.t > failed.t && e.ok) : undefined;
      return { ...(failed ? { failedAt: failed.t } : {}), ...(served ? { servedAt: served.t } : {}) };
    },
    async stop() {
      stop = true;
      await done;
    },
  };
}

function open() {
  return openCluster({
    spec: cluster.spec,
    state: cluster.state,
    tls: cluster.tls,
    connect: connectVaultNode,
    runtime: () => cluster.runtime,
  });
}

async function activeName(): Promise<string | undefined> {
  return (await open().active({ timeoutMs: 2000 }))?.name;
}

beforeAll(async () => {
  await removeClusterResources(cluster.name);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m,mode=1777', 'tmpfs', logsDir]);
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

describe('an active node whose audit device cannot write', () => {
  it('is a total outage health calls down with the cause; freed, it serves again without a restart', async () => {
    expect(await activeName()).toBe('vault-1');
    const writer = startWriter();
    try {
      await eventually(async () => expect(writer.acked.length).toBeGreaterThan(5), 20_000);
      const since = performance.now();
      fill();
      await eventually(async () => expect(writer.outage(since).failedAt).toBeDefined(), 20_000);

      const health = await cluster.cli(['health']);
      expect(health.exitCode, health.stdout).toBe(2);
      expect(health.stdout).toMatch(/down/);
      expect(health.stdout).toMatch(
        /vault-1 \(active\) answers HTTP 500 to every request: no audit device can write \(file\//,
      );
      const json = JSON.parse((await cluster.cli(['--format', 'json', 'health'])).stdout);
      expect(json.nodes.find((x: { name: string }) => x.name === 'vault-1').auditFailing).toMatch(
        /^file\/: /,
      );

      const save = await cluster.cli(['snapshot', 'save', '--dir', cluster.base]);
      expect(save.exitCode).toBe(2);
      expect(save.stderr).toMatch(
        /Error saving a snapshot: vault-1 \(active\) answers HTTP 500.*no audit device can write/,
      );
      expect(save.stderr).toMatch(/hint: free space on vault-1's audit volume/);

      // HAProxy's check goes through the audit path: the node is marked down for its 500.
      await eventually(async () => {
        const logs = (
          await docker.getContainer(endpointContainerName(cluster.spec)).logs({ stdout: true, stderr: true })
        ).toString();
        expect(logs).toMatch(/vault_active\/vault-1 is DOWN, reason: Layer7 wrong status, code: 500/);
      }, 10_000);

      const freedAt = performance.now();
      free();
      await eventually(async () => expect(writer.outage(since).servedAt).toBeDefined(), 30_000);
      const o = writer.outage(since);
      console.log(
        `audit full -> freed (no restart): outage ${((o.servedAt! - o.failedAt!) / 1000).toFixed(2)} s, served ${((o.servedAt! - freedAt) / 1000).toFixed(2)} s after the space was freed`,
      );
      expect(await activeName()).toBe('vault-1');
      await eventually(async () => expect((await cluster.cli(['health'])).exitCode).toBe(0), 30_000);
    } finally {
      await writer.stop();
    }
    const api = cluster.api(0);
    for (const i of writer.acked)
      expect((await api.kvGet('secret', `vctl-au-outage/w-${i}`))?.data, `write ${i}`).toEqual({ n: i });
  });

  it('stepDownAuditBlocked restarts the node so that a standby serves; the outage is measured; 0 acknowledged writes lost', async () => {
    expect(await activeName()).toBe('vault-1');
    // Nothing to do on a cluster that audits.
    expect((await stepDownAuditBlocked(open())).action).toBe('none');
    const writer = startWriter();
    let result: Awaited<ReturnType<typeof stepDownAuditBlocked>>;
    try {
      await eventually(async () => expect(writer.acked.length).toBeGreaterThan(5), 20_000);
      const since = performance.now();
      fill();
      await eventually(async () => expect(writer.outage(since).failedAt).toBeDefined(), 20_000);
      result = await stepDownAuditBlocked(open());
      expect(result.action).toBe('restarted');
      expect(result.node).toBe('vault-1');
      expect(result.cause).toMatch(/^file\/: /);
      expect(result.newActive).not.toBe('vault-1');
      await eventually(async () => expect(writer.outage(since).servedAt).toBeDefined(), 30_000);
      // Served again, and it keeps serving: a few more acknowledged writes before the writer stops.
      const servedCount = writer.acked.length;
      await eventually(async () => expect(writer.acked.length).toBeGreaterThan(servedCount + 5), 20_000);
      const o = writer.outage(since);
      console.log(
        `audit full -> stepDownAuditBlocked: outage ${((o.servedAt! - o.failedAt!) / 1000).toFixed(2)} s (first failed write -> first served through the endpoint), new active ${result.newActive}, load ${execFileSync('cat', ['/proc/loadavg']).toString().trim()}`,
      );
    } finally {
      await writer.stop();
    }
    // The restarted node rejoined as a standby while its volume is still full: it forwards, so
    // the cluster is served; freed, it is healthy.
    free();
    await eventually(async () => expect((await cluster.cli(['health'])).exitCode).toBe(0), 90_000);
    const api = cluster.api(0);
    for (const i of writer.acked)
      expect((await api.kvGet('secret', `vctl-au-outage/w-${i}`))?.data, `write ${i}`).toEqual({ n: i });
    expect(writer.acked.length).toBeGreaterThan(10);
  });
});
