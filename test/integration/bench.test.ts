/**
 * `vaultctl bench` against a real cluster, as a user runs it: on a cluster that cannot take
 * writes it exits 2 with the cause; it never touches a secret it did not write (the old fixed
 * seed paths held real tenants' credentials); it leaves nothing behind, and when the cluster
 * fails mid-run it lists what it could not remove and exits 2.
 */
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitForHealth } from '../../src/health/health.js';
import { VaultRequestError } from '../../src/vault/port.js';
import {
  cliOutputs,
  eventually,
  leakedSecrets,
  removeClusterResources,
  TestCluster,
} from '../helpers/cluster.js';
import { CLI } from '../helpers/paths.js';

const cluster = new TestCluster({ name: 'vctl-it-bench', apiPortBase: 18620 });
const targets = () => cluster.spec.nodes.map((n, i) => ({ name: n.name, address: cluster.address(i) }));
/** Where `bench` used to seed tenant 3's kraken credential, deleting whatever was there. */
const REAL = 'tenants/00000000-0000-4000-8000-000000000003/exchanges/kraken/readonly';

/** What the bench prefix holds now (empty when nothing), read on the leader. */
async function benchKeys(): Promise<string[]> {
  try {
    const res = await cluster
      .api(0)
      .call<{ data: { keys: string[] } }>(
        'LIST',
        '/secret/metadata/vaultctl-bench/',
        'listing the bench prefix',
      );
    return res.data.keys;
  } catch (err) {
    if (err instanceof VaultRequestError && err.status === 404) return [];
    throw err;
  }
}

/** Starts `vaultctl bench` and resolves once its load is running. */
async function benchRunning(args: string[]) {
  const child = execa('node', [CLI, '--cluster', cluster.name, 'bench', ...args], {
    cwd: cluster.base,
    env: { NO_COLOR: '1', CI: 'true', BAO_TOKEN: '', VAULT_TOKEN: '' },
    reject: false,
    stdin: 'ignore',
  });
  let err = '';
  child.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const start = Date.now();
  while (!/running: /.test(err) && Date.now() - start < 60_000) await new Promise((r) => setTimeout(r, 100));
  expect(err).toMatch(/running: /);
  // Wrapped: the child is a thenable, and an async function returning it would wait for its end.
  return { child };
}

beforeAll(async () => {
  await removeClusterResources(cluster.name);
  await cluster.up();
});
afterAll(async () => {
  await cluster.destroy();
});

describe('vaultctl bench on a cluster that cannot take writes', () => {
  it('not initialised: exit 2, the cause and a hint, no stack', async () => {
    const r = await cluster.cli(
      ['bench', '--duration', '2s', '--warmup', '0s', '--tenants', '1', '--users', '2'],
      {
        BAO_TOKEN: 'not-a-token',
      },
    );
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.stderr).toMatch(
      /^Error running the benchmark: the cluster cannot take writes: .*vault-1 not initialised/m,
    );
    expect(r.stderr).toMatch(/^hint: .*`vaultctl init`/m);
    expect(r.stderr).not.toMatch(/Internal error|\n\s+at /);
    expect(r.stderr).not.toContain('seeding');
  });
});

describe('vaultctl bench on a running cluster', () => {
  beforeAll(async () => {
    await cluster.init();
  });

  it('leaves a secret at the old fixed seed path and its history intact, and nothing of its own', async () => {
    const api = cluster.api(0);
    await api.kvPut('secret', REAL, { api_key: 'real-1', secret: 'real-secret-1' });
    await api.kvPut('secret', REAL, { api_key: 'real-2', secret: 'real-secret-2' });
    const r = await cluster.cli([
      'bench',
      '--duration',
      '2s',
      '--warmup',
      '0s',
      '--tenants',
      '3',
      '--users',
      '2',
    ]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^write /m);
    expect(await api.kvGet('secret', REAL)).toEqual({
      data: { api_key: 'real-2', secret: 'real-secret-2' },
      version: 2,
    });
    const meta = await api.read<{
      data: {
        current_version: number;
        versions: Record<string, { deletion_time: string; destroyed: boolean }>;
      };
    }>(`secret/metadata/${REAL}`);
    expect(meta.data.current_version).toBe(2);
    expect(Object.keys(meta.data.versions).sort()).toEqual(['1', '2']);
    for (const v of Object.values(meta.data.versions))
      expect(v).toMatchObject({ deletion_time: '', destroyed: false });
    const v1 = await api.read<{ data: { data: Record<string, string> } }>(`secret/data/${REAL}?version=1`);
    expect(v1.data.data).toEqual({ api_key: 'real-1', secret: 'real-secret-1' });
    expect(r.stderr).toMatch(
      /seeding 18 credentials under secret\/vaultctl-bench\/\d{8}T\d{6}Z-[0-9a-f]{8}\//,
    );
    await eventually(async () => expect(await benchKeys()).toEqual([]), 10_000);
  });

  it('100 users: no MaxListenersExceededWarning (or any other warning from Node) on stderr', async () => {
    const r = await cluster.cli(['bench', '--duration', '3s', '--warmup', '1s', '--tenants', '2']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toContain('running: 100 users');
    expect(r.stderr).not.toContain('MaxListenersExceededWarning');
    expect(r.stderr).not.toMatch(/\(node:\d+\) \w*Warning/);
    // With the seed's "List Secrets" in the mix: lists are measured and judged, and none fails.
    const open = await cluster.cli([
      'bench',
      '--rate',
      '200',
      '--duration',
      '3s',
      '--warmup',
      '0s',
      '--tenants',
      '1',
      '--list-ratio',
      '0.2',
      '--format',
      'json',
    ]);
    expect(open.exitCode, open.stderr).toBe(0);
    expect(open.stderr).not.toMatch(/\(node:\d+\) \w*Warning/);
    const report = JSON.parse(open.stdout) as {
      listRatio: number;
      list: { count: number };
      errors: number;
      verdicts: { target: string; status: string }[];
    };
    expect(report.listRatio).toBe(0.2);
    expect(report.list.count).toBeGreaterThan(0);
    expect(report.errors).toBe(0);
    expect(report.verdicts.map((v) => v.target)).toEqual(
      expect.arrayContaining(['list p50 < 50 ms', 'list p99 < 100 ms']),
    );
  });

  it("--timeline: every second has every node's own metrics; --format vault-benchmark: its report shape", async () => {
    const short = [
      'bench',
      '--duration',
      '2s',
      '--warmup',
      '0s',
      '--tenants',
      '1',
      '--users',
      '4',
      '--cache',
      'off',
    ];
    const json = await cluster.cli(['--format', 'json', ...short, '--timeline']);
    expect(json.exitCode, json.stderr).toBe(0);
    const report = JSON.parse(json.stdout) as {
      timeline: { t: number; nodes: Record<string, { values: Record<string, number>; error?: string }> }[];
    };
    expect(report.timeline.map((s) => s.t)).toEqual([0, 1]);
    // Every node's own metrics listener answered, and each its own raft state.
    for (const s of report.timeline) {
      expect(Object.keys(s.nodes).sort()).toEqual(['vault-1', 'vault-2', 'vault-3']);
      for (const n of Object.values(s.nodes)) {
        expect(n.error).toBeUndefined();
        expect(n.values.appliedIndex).toBeGreaterThan(0);
      }
    }

    const vb = await cluster.cli(['--format', 'vault-benchmark', ...short, '--list-ratio', '0.2']);
    expect(vb.exitCode, vb.stderr).toBe(0);
    const out = JSON.parse(vb.stdout) as {
      target_addr: string;
      metrics: Record<string, { requests: number; success: number; status_codes: Record<string, number> }>;
    };
    // The address the client starts with: the active node's.
    expect([0, 1, 2].map((i) => cluster.address(i))).toContain(out.target_addr);
    expect(Object.keys(out.metrics)).toEqual([
      'kvv2_list_test',
      'kvv2_read_test',
      'kvv2_write_test',
      'total',
    ]);
    const t = out.metrics.total!;
    expect(t.requests).toBeGreaterThan(0);
    expect(t.success).toBe(1);
    expect(t.status_codes).toEqual({ '200': t.requests });
    await eventually(async () => expect(await benchKeys()).toEqual([]), 10_000);
  });

  it('every node stops mid-run: the report, then each credential it could not remove on stderr, exit 2', async () => {
    const { child } = await benchRunning([
      '--duration',
      '20s',
      '--warmup',
      '0s',
      '--tenants',
      '2',
      '--users',
      '5',
    ]);
    const running = Date.now();
    await new Promise((r) => setTimeout(r, 1000));
    await Promise.all([0, 1, 2].map((i) => cluster.runtime.stopContainer(cluster.container(i), 5)));
    // The nodes must be down well before the load ends, or the run proves nothing.
    expect(Date.now() - running, 'stopping the nodes took most of the run').toBeLessThan(15_000);
    const res = await child;
    const [stdout, stderr] = [String(res.stdout), String(res.stderr)];
    cliOutputs.push(stdout, stderr);
    expect(res.exitCode, stderr).toBe(2);
    expect(stdout).toMatch(/^write /m);
    expect(stderr).toMatch(/^Error removing the benchmark credentials: 12 of 12 could not be removed \(/m);
    const listed = [...stderr.matchAll(/^ {2}- secret\/(vaultctl-bench\/\S+)$/gm)].map((m) => m[1]!);
    expect(listed).toHaveLength(12);
    expect(stderr).toMatch(/^hint: all are under secret\/vaultctl-bench\/[^/]+\/ .*bao kv metadata delete/m);

    // Quorum lost: one node back, two still down. bench refuses before writing anything.
    await cluster.runtime.startContainer(cluster.container(0));
    await eventually(async () => {
      const h = await cluster.api(0, undefined).health();
      expect(h).toMatchObject({ initialized: true, sealed: false });
    }, 60_000);
    const lost = await cluster.cli([
      'bench',
      '--duration',
      '2s',
      '--warmup',
      '0s',
      '--tenants',
      '1',
      '--users',
      '2',
    ]);
    expect(lost.exitCode, lost.stderr).toBe(2);
    expect(lost.stderr).toMatch(
      /^Error running the benchmark: the cluster cannot take writes: no active node \(no leader\); 1 of 3 nodes unsealed, quorum needs 2; vault-2 unreachable/m,
    );
    expect(lost.stderr).toMatch(/^hint: .*`vaultctl up` starts stopped nodes/m);
    expect(lost.stderr).not.toMatch(/Internal error|\n\s+at /);

    for (const i of [1, 2]) await cluster.runtime.startContainer(cluster.container(i));
    const h = await waitForHealth(targets(), 3, { ...cluster.healthDeps(), waitMs: 90_000 });
    expect(h.verdict, h.reasons.join('; ')).toBe('healthy');
    // What it listed is what it wrote, and all of it: removing the listed paths empties its prefix.
    const api = cluster.api(0);
    for (const p of listed)
      expect((await api.kvGet('secret', p))?.data).toMatchObject({ api_key: expect.any(String) });
    for (const p of listed) await api.call('DELETE', `/secret/metadata/${p}`, `removing ${p}`);
    await eventually(async () => expect(await benchKeys()).toEqual([]), 10_000);
    expect((await api.kvGet('secret', REAL))?.version).toBe(2);
  });

  it('no token or secret value appeared in any vaultctl output', () => {
    expect(leakedSecrets(cluster.knownSecrets(['real-secret-1', 'real-secret-2']))).toEqual([]);
  });
});
