/**
 * Audit rotation on a real cluster: under concurrent writes, the active node's audit log is
 * rotated three times (rename, SIGHUP, gzip); no request fails, and the audit lines of the run
 * (live file plus every compressed file, read back through the helper container) are exactly one
 * request and one response entry per request made. Retention removes beyond `keep`.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rotateAudit } from '../../src/audit/rotate.js';
import { ensureToolboxImage } from '../../src/audit/toolbox.js';
import { openCluster } from '../../src/cluster/running.js';
import { volumeName } from '../../src/spec/names.js';
import { connectVaultNode } from '../../src/vault/api.js';
import { removeClusterResources, TestCluster } from '../helpers/cluster.js';

const cluster = new TestCluster({ name: 'vctl-au-rotate', apiPortBase: 19720 });

function open() {
  return openCluster({
    spec: cluster.spec,
    state: cluster.state,
    tls: cluster.tls,
    connect: connectVaultNode,
    runtime: () => cluster.runtime,
  });
}

/** Every file of vault-1's audit volume, decompressed, as the helper container reads it. */
async function auditText(): Promise<{ text: string; files: string[] }> {
  const image = await ensureToolboxImage(cluster.runtime);
  const volume = volumeName(cluster.spec, cluster.node(0), 'logs');
  const r = await cluster.runtime.runImage(
    image,
    ['/bin/busybox'],
    ['sh', '-c', 'cd /v; ls -1 >&2; for f in *.gz; do [ -f "$f" ] && gzip -dc "$f"; done; cat audit.log'],
    60_000,
    { volumes: [{ volume, target: '/v' }], user: '0:0' },
  );
  expect(r.exitCode, r.output.slice(0, 300)).toBe(0);
  return { text: r.output, files: r.output.split('\n').filter((l) => /^audit.*\.log(\.gz)?$/.test(l)) };
}

beforeAll(async () => {
  await removeClusterResources(cluster.name);
  await cluster.up();
  await cluster.init();
});

afterAll(async () => {
  await cluster.destroy();
});

describe('vaultctl audit rotate', () => {
  it('three rotations under 4 concurrent writers: no request fails, audit lines = requests made', async () => {
    const run = randomUUID();
    const api = connectVaultNode({
      address: cluster.address(0),
      token: cluster.rootToken,
      tls: cluster.tls,
      timeoutMs: 10_000,
    });
    expect((await api.health()).standby).toBe(false);
    let made = 0;
    let failed = 0;
    let stop = false;
    const writers = [0, 1, 2, 3].map(async (w) => {
      for (let i = 0; !stop; i++) {
        made++;
        await api.kvPut('secret', `vctl-au-rotate/${run}/w${w}-${i}`, { i }).catch(() => failed++);
      }
    });
    const rotations: string[] = [];
    try {
      for (let r = 0; r < 3; r++) {
        await new Promise((res) => setTimeout(res, 1500));
        const res = await rotateAudit(open(), cluster.runtime, { force: true, nodes: ['vault-1'] });
        expect(res[0]!.rotated).toMatch(/^audit-.*\.log\.gz$/);
        rotations.push(res[0]!.rotated!);
      }
      await new Promise((res) => setTimeout(res, 1000));
    } finally {
      stop = true;
      await Promise.all(writers);
    }
    expect(failed).toBe(0);
    expect(made).toBeGreaterThan(100);
    const { text, files } = await auditText();
    for (const f of rotations) expect(files).toContain(f);
    const mine = text.split('\n').filter((l) => l.includes(`vctl-au-rotate/${run}/`));
    const requests = mine.filter((l) => l.includes('"type":"request"')).length;
    const responses = mine.filter((l) => l.includes('"type":"response"')).length;
    console.log(
      `rotation under load: ${made} requests, ${requests} request and ${responses} response entries across ${files.length} files`,
    );
    expect(requests).toBe(made);
    expect(responses).toBe(made);
  });

  it('retention keeps the newest `keep` compressed files; a pass that is not due rotates nothing', async () => {
    const policy = { maxBytes: 1024 ** 3, maxAgeMs: 24 * 3600_000, keep: 2, retentionDays: 90 };
    const before = (await auditText()).files.filter((f) => f.endsWith('.gz'));
    expect(before.length).toBeGreaterThanOrEqual(3);
    const notDue = await rotateAudit(open(), cluster.runtime, { nodes: ['vault-1'], policy });
    expect(notDue[0]!.rotated).toBeUndefined();
    expect(notDue[0]!.reason).toBe('not due');
    expect(notDue[0]!.removed.length).toBe(before.length - 2);
    const after = (await auditText()).files.filter((f) => f.endsWith('.gz'));
    expect(after).toEqual([...before].sort().slice(-2));
  });

  it('the CLI rotates every node and says what it did', async () => {
    const res = await cluster.cli(['--format', 'json', 'audit', 'rotate', '--force']);
    expect(res.exitCode, res.stderr).toBe(0);
    const out = JSON.parse(res.stdout) as { nodes: { node: string; rotated?: string }[] };
    expect(out.nodes.map((n) => n.node)).toEqual(['vault-1', 'vault-2', 'vault-3']);
    expect(out.nodes[0]!.rotated).toMatch(/\.log\.gz$/);
  });
});
