/**
 * `vaultctl failover-drill` on a real 3-node cluster, through the CLI: a leader kill, pause and
 * graceful stop (no acknowledged write lost, healed, the figures consistent), a follower kill (no
 * write fails), a partitioned leader (cut off from its peers, it acknowledges nothing and loses nothing),
 * every node killed (auto-unseal brings the cluster back), Ctrl-C in the middle of a fault (healed
 * before exit), and refused input.
 */
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { waitForHealth } from '../../src/health/health.js';
import { VaultRequestError } from '../../src/vault/port.js';
import {
  cliOutputs,
  docker,
  leakedSecrets,
  removeClusterResources,
  TestCluster,
} from '../helpers/cluster.js';
import { CLI } from '../helpers/paths.js';

const cluster = new TestCluster({ name: 'vctl-it-drill', apiPortBase: 18460 });
const targets = () => cluster.spec.nodes.map((n, i) => ({ name: n.name, address: cluster.address(i) }));

interface Round {
  round: number;
  victims: string[];
  leaderBefore: string;
  leaderAfter: string | null;
  leaderChanged: boolean;
  newLeaderMs: number | null;
  writeUnavailableMs: number | null;
  longestAckGapMs: number | null;
  rtoMs: number | null;
  writes: { sent: number; acked: number; failed: number };
  reads: { sent: number; failedOnFaulted: number; failedOnOthers: number };
  lostWrites: number;
  ackedByFaulted: number;
  ackedDuringFault: number;
  rejoinMs: number | null;
  healMs: number | null;
  healed: boolean;
  faultHeldMs: number;
  partitionMethod: string | null;
  failedReads: FailedRequest[];
  failedWrites: FailedRequest[];
  endpoint: {
    writes: { sent: number; acked: number; failed: number };
    lostWrites: number;
    rtoMs: number | null;
  } | null;
}

interface FailedRequest {
  seq: number | null;
  node: string | null;
  faulted: boolean;
  atMs: number;
  kind: string;
  status: number | null;
  message: string;
}

async function drill(args: string[]) {
  const res = await cluster.cli([
    'failover-drill',
    // Long enough for an election to finish while the fault lasts (1-2 s heartbeat timeout, then
    // the vote; up to about 4 s measured under load).
    '--duration',
    '6s',
    '--max-rto',
    '20s',
    '--format',
    'json',
    '--yes',
    ...args,
  ]);
  let report: {
    drill: string;
    rounds: Round[];
    summary: { ok: boolean; lostWrites: number };
    keysLeft: number;
  };
  try {
    report = JSON.parse(res.stdout);
  } catch {
    throw new Error(`no JSON report (exit ${res.exitCode}): ${res.stderr}`);
  }
  // A failed check shows the whole round (the report holds figures only, no secrets).
  onTestFailed(() => {
    console.error(`drill report: ${JSON.stringify(report.rounds)}\n${res.stderr}`);
  });
  return { ...res, report };
}

/** The figures of one round agree with each other. */
function consistent(r: Round) {
  expect(r.writes.acked + r.writes.failed).toBe(r.writes.sent);
  expect(r.writes.acked).toBeGreaterThan(40); // 20/s over at least 2 s of warm-up
  expect(r.faultHeldMs).toBeGreaterThanOrEqual(5900);
  expect(r.healed).toBe(true);
  expect(r.rejoinMs).not.toBeNull();
  expect(r.healMs).toBeGreaterThanOrEqual(r.rejoinMs!);
  expect(r.rtoMs).toBeGreaterThanOrEqual(r.writeUnavailableMs ?? 0);
  expect(r.rtoMs).toBeGreaterThanOrEqual(r.longestAckGapMs ?? 0);
  expect(r.lostWrites).toBe(0);
  // Every failed request is explained: the node it went to, the kind of error, its message.
  expect(r.failedReads).toHaveLength(r.reads.failedOnFaulted + r.reads.failedOnOthers);
  expect(r.failedWrites).toHaveLength(r.writes.failed);
  for (const f of r.failedReads) {
    expect(f.node).toMatch(/^vault-\d$/);
    expect(f.message).toMatch(/^reading the drill canary on https:\/\/127\.0\.0\.1:\d+: /);
  }
  for (const f of r.failedWrites) expect(f.node === null ? f.kind : f.message).toMatch(/^(unsent|writing)/);
  // The same writes through the active-node endpoint, as a one-address application sends them.
  expect(r.endpoint, 'a writer through the endpoint').toBeTruthy();
  expect(r.endpoint!.writes.acked + r.endpoint!.writes.failed).toBe(r.endpoint!.writes.sent);
  expect(r.endpoint!.writes.acked).toBeGreaterThan(40);
  expect(r.endpoint!.lostWrites).toBe(0);
}

async function drillKeysGone(id: string) {
  const api = cluster.api(0);
  const err = await api
    .call('LIST', `/${cluster.spec.kv.path}/metadata/vaultctl-drill/${id}`, 'listing drill keys')
    .then(() => undefined)
    .catch((e: unknown) => e);
  expect(err).toBeInstanceOf(VaultRequestError);
  expect((err as VaultRequestError).status).toBe(404);
}

beforeAll(async () => {
  await removeClusterResources(cluster.name);
  await cluster.up();
  await cluster.init();
});
afterAll(async () => {
  await cluster.destroy();
});

describe('vaultctl failover-drill', () => {
  it('kill the leader: a new leader, writes resume, nothing acknowledged is lost, the cluster heals', async () => {
    const { exitCode, stderr, report } = await drill(['--fault', 'kill', '--target', 'leader']);
    expect(exitCode, stderr).toBe(0);
    const r = report.rounds[0]!;
    consistent(r);
    expect(r.leaderChanged).toBe(true);
    expect(r.victims).toEqual([r.leaderBefore]);
    expect(r.newLeaderMs).toBeGreaterThan(0);
    expect(r.writeUnavailableMs).toBeGreaterThan(0);
    expect(r.reads.failedOnFaulted).toBeGreaterThan(0);
    // The new leader took writes while the old one was dead.
    expect(r.ackedDuringFault).toBeGreaterThan(0);
    expect(report.summary.ok).toBe(true);
    expect(report.keysLeft).toBe(0);
    await drillKeysGone(report.drill);
  });

  it('pause the leader: it is deposed, and nothing it had acknowledged is lost', async () => {
    const { exitCode, stderr, report } = await drill(['--fault', 'pause']);
    expect(exitCode, stderr).toBe(0);
    const r = report.rounds[0]!;
    consistent(r);
    // Replaced while frozen (whether it wins again after it wakes is up to the next election).
    expect(r.newLeaderMs).toBeGreaterThan(0);
  });

  it('stop the leader gracefully: it hands over, and nothing acknowledged is lost', async () => {
    const { exitCode, stderr, report } = await drill(['--fault', 'stop']);
    expect(exitCode, stderr).toBe(0);
    const r = report.rounds[0]!;
    consistent(r);
    expect(r.victims).toEqual([r.leaderBefore]);
    expect(r.newLeaderMs).not.toBeNull();
    // The stopped leader stays down for the whole fault: the new leader took writes meanwhile.
    expect(r.ackedDuringFault).toBeGreaterThan(0);
  });

  it('kill a follower: not one write fails', async () => {
    const { exitCode, stderr, report } = await drill(['--fault', 'kill', '--target', 'follower']);
    expect(exitCode, stderr).toBe(0);
    const r = report.rounds[0]!;
    consistent(r);
    // Not one write issued while the follower was down failed. One issued before the kill can time
    // out on a starved host (seen with three CPU-bound loops: the first writes of the warm-up, each
    // a 1 s timeout on a healthy node): load, not the follower.
    expect(r.failedWrites.filter((f) => f.atMs >= 0)).toEqual([]);
    expect(r.failedWrites.filter((f) => f.kind !== 'timeout')).toEqual([]);
    expect(r.leaderChanged).toBe(false);
    expect(r.victims).not.toContain(r.leaderBefore);
    expect(r.newLeaderMs).toBeNull();
    // A follower's death fails no read through the leader or the other follower: no refused or
    // reset connection, no redirect, no HTTP error. A read can still outlast the drill's 1 s
    // timeout on a starved host: that is the host's load, not the failover (issue 17; with three
    // CPU-bound loops beside the tests, reads through every node timed out while the killed node
    // restarted, each `timeout`, none refused, reset or redirected).
    const onOthers = r.failedReads.filter((f) => !f.faulted);
    expect(onOthers.filter((f) => f.kind !== 'timeout')).toEqual([]);
  });

  it('partition the leader from its peers: it acknowledges nothing while cut off, and nothing is lost', async () => {
    const { exitCode, stderr, report } = await drill(['--fault', 'partition']);
    expect(exitCode, stderr).toBe(0);
    const r = report.rounds[0]!;
    consistent(r);
    expect(r.partitionMethod).toBe('peers');
    expect(r.newLeaderMs).toBeGreaterThan(0);
    expect(r.ackedByFaulted).toBe(0);
    // The client still reaches the cut-off node (only peer traffic is dropped): it left that node for
    // the new leader, which took writes while the fault lasted.
    // How many writes failed on the way depends on how fast this host elects a leader: a figure for
    // bench/drill.mjs, not a check here (on a starved host some do fail, each past its deadline).
    expect(r.ackedDuringFault).toBeGreaterThan(0);
  });

  it('kill every node: auto-unseal brings them all back, and nothing acknowledged is lost', async () => {
    // Every node restarts and unseals before any write goes through: a longer RTO bound than a failover.
    const { exitCode, stderr, report } = await drill([
      '--fault',
      'kill',
      '--target',
      'all',
      '--max-rto',
      '120s',
    ]);
    expect(exitCode, stderr).toBe(0);
    const r = report.rounds[0]!;
    consistent(r);
    expect([...r.victims].sort()).toEqual(['vault-1', 'vault-2', 'vault-3']);
    // No node answers while all are down: nothing is acknowledged, by anyone, until the heal.
    expect(r.ackedDuringFault).toBe(0);
    expect(r.reads.failedOnFaulted).toBeGreaterThan(0);
    // After the restart some node leads again (any node counts for `all`), unsealed by itself.
    expect(r.newLeaderMs).toBeGreaterThan(0);
    expect(r.writeUnavailableMs).toBeGreaterThanOrEqual(r.faultHeldMs);
    expect(report.summary.ok).toBe(true);
  });

  it('Ctrl-C during a fault heals it before exiting (130), and the cluster is healthy', async () => {
    const child = execa(
      'node',
      [CLI, '--cluster', cluster.name, 'failover-drill', '--fault', 'pause', '--duration', '60s', '--yes'],
      { cwd: cluster.base, env: { NO_COLOR: '1', CI: 'true' }, reject: false, stdin: 'ignore' },
    );
    let err = '';
    child.stderr?.on('data', (d: Buffer) => {
      err += d.toString();
    });
    const start = Date.now();
    while (!/pause vault-\d/.test(err) && Date.now() - start < 60_000)
      await new Promise((r) => setTimeout(r, 100));
    expect(err).toMatch(/pause vault-\d/);
    // The line is printed as the pause begins; freezing a busy process can take a moment.
    const pausedNow = async () =>
      (await docker.listContainers({ filters: { label: [`io.vaultctl.cluster=${cluster.name}`] } })).filter(
        (c) => c.State === 'paused',
      );
    let paused = await pausedNow();
    for (const t0 = Date.now(); paused.length === 0 && Date.now() - t0 < 15_000; paused = await pausedNow())
      await new Promise((r) => setTimeout(r, 200));
    expect(paused, `stderr so far:\n${err}`).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 500));
    child.kill('SIGINT');
    const res = await child;
    cliOutputs.push(String(res.stdout), String(res.stderr));
    expect(res.exitCode, String(res.stderr)).toBe(130);
    expect(String(res.stderr)).toMatch(/healing vault-\d/);
    const states = (
      await docker.listContainers({
        all: true,
        filters: { label: [`io.vaultctl.cluster=${cluster.name}`, 'io.vaultctl.kind=node'] },
      })
    ).map((c) => c.State);
    expect(states).toEqual(['running', 'running', 'running']);
    const h = await waitForHealth(targets(), 3, { ...cluster.healthDeps(), waitMs: 60_000 });
    expect(h.verdict, h.reasons.join('; ')).toBe('healthy');
  });

  it('refuses bad input and a drill nobody confirmed, touching nothing', async () => {
    const before = await waitForHealth(targets(), 3, { ...cluster.healthDeps(), waitMs: 30_000 });
    const leader = before.nodes.find((n) => n.active)?.name;
    const all = await cluster.cli(['failover-drill', '--fault', 'partition', '--target', 'all', '--yes']);
    expect(all.exitCode).toBe(1);
    expect(all.stderr).toMatch(/Error preparing the failover drill: a partition of every node/);
    const bad = await cluster.cli(['failover-drill', '--fault', 'meteor', '--yes']);
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toMatch(/hint: use one of kill, stop, pause, partition/);
    const unconfirmed = await cluster.cli(['failover-drill']);
    expect(unconfirmed.exitCode).toBe(1);
    expect(unconfirmed.stderr).toMatch(/needs confirmation.*\n.*--yes/);
    const after = await waitForHealth(targets(), 3, { ...cluster.healthDeps(), waitMs: 5_000 });
    expect(after.verdict).toBe('healthy');
    expect(after.nodes.find((n) => n.active)?.name).toBe(leader);
  });

  it('no token or key appeared in any vaultctl output', () => {
    expect(leakedSecrets(cluster.knownSecrets())).toEqual([]);
  });
});
