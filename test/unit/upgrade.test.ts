import { describe, expect, it } from 'vitest';
import { parseTarget } from '../../src/commands/upgrade.js';
import type { WriteRecord } from '../../src/drill/report.js';
import { ConfigError, RemoteError, UsageError } from '../../src/errors.js';
import type { ClusterHealth } from '../../src/health/health.js';
import { resolveSpec } from '../../src/spec/resolve.js';
import { compareVersions } from '../../src/spec/version.js';
import { type NodeState, nextAction, planUpgrade } from '../../src/upgrade/plan.js';
import { requireHealthy, targetInput } from '../../src/upgrade/preflight.js';
import { howToGoOn, longestAckGap, type StopFacts, trafficReport } from '../../src/upgrade/report.js';
import { readImageVersion, versionFromOutput } from '../../src/upgrade/version.js';
import { FakeRuntime } from '../helpers/fake-runtime.js';

const nodes = (active: string, upgraded: string[] = []): NodeState[] =>
  ['vault-1', 'vault-2', 'vault-3'].map((name) => ({
    name,
    active: name === active,
    upgraded: upgraded.includes(name),
  }));

describe('upgrade order', () => {
  it('must recreate the standbys one at a time, then step the leader down, then recreate it', () => {
    const plan = planUpgrade(nodes('vault-2'), '2.7.2');
    expect(plan.map((s) => `${s.kind} ${'node' in s ? s.node : ''}`)).toEqual([
      'recreate vault-1',
      'recreate vault-3',
      'step-down vault-2',
      'recreate vault-2',
    ]);
    expect(plan.every((s) => s.reason.length > 0)).toBe(true);
  });

  it('must never step the leader down while another node is still old', () => {
    const a = nextAction(nodes('vault-1', ['vault-2']), '2.7.2');
    expect(a).toMatchObject({ kind: 'recreate', node: 'vault-3' });
  });

  it('must skip nodes already on the target (a rerun after Ctrl-C)', () => {
    const plan = planUpgrade(nodes('vault-1', ['vault-2']), '2.7.2');
    expect(plan.map((s) => s.kind)).toEqual(['recreate', 'step-down', 'recreate']);
    expect(plan[0]).toMatchObject({ node: 'vault-3' });
  });

  it('must recreate an old standby when an upgraded node already leads (no step-down needed)', () => {
    const plan = planUpgrade(nodes('vault-3', ['vault-3', 'vault-1']), '2.7.2');
    expect(plan).toHaveLength(1);
    expect(plan[0]).toMatchObject({ kind: 'recreate', node: 'vault-2' });
  });

  it('must plan nothing when every node runs the target', () => {
    expect(planUpgrade(nodes('vault-1', ['vault-1', 'vault-2', 'vault-3']), '2.7.2')).toEqual([]);
    expect(nextAction(nodes('vault-1', ['vault-1', 'vault-2', 'vault-3']), '2.7.2').kind).toBe('done');
  });

  it('must order five nodes the same way: four standbys, a step-down, the leader', () => {
    const five: NodeState[] = [1, 2, 3, 4, 5].map((i) => ({
      name: `vault-${i}`,
      active: i === 1,
      upgraded: false,
    }));
    const plan = planUpgrade(five, '2.7.2');
    expect(plan.map((s) => s.kind)).toEqual([
      'recreate',
      'recreate',
      'recreate',
      'recreate',
      'step-down',
      'recreate',
    ]);
    expect(plan[5]).toMatchObject({ node: 'vault-1' });
  });
});

describe('upgrade versions', () => {
  it('must compare versions numerically', () => {
    expect(compareVersions('2.6.2', '2.7.2')).toBeLessThan(0);
    expect(compareVersions('2.10.0', '2.9.9')).toBeGreaterThan(0);
    expect(compareVersions('v2.7.2', '2.7.2')).toBe(0);
    expect(() => compareVersions('latest', '2.7.2')).toThrow(UsageError);
  });

  it('must read the version from `bao version` output', () => {
    expect(versionFromOutput('OpenBao v2.7.2 (abcdef), built 2025-01-01T00:00:00Z\n')).toBe('2.7.2');
    expect(versionFromOutput('nothing')).toBeUndefined();
  });

  it('must read the version from the binary only: a label never stands in (issue 26 item 1)', async () => {
    const rt = new FakeRuntime(['a:1', 'b:1', 'c:1']);
    rt.imageRuns.set('a:1', { exitCode: 0, output: 'OpenBao v2.7.2 (x)' });
    rt.labelsOfImages.set('a:1', { 'io.vaultctl.version': '9.9.9' });
    expect(await readImageVersion(rt, 'a:1', 'openbao')).toEqual({ version: '2.7.2', source: 'binary' });
    rt.imageRuns.set('b:1', { exitCode: 127, output: 'exec: bao: not found' });
    rt.labelsOfImages.set('b:1', { 'io.vaultctl.version': '2.6.2' });
    const err = await readImageVersion(rt, 'b:1', 'openbao').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).render()).toMatch(
      /^Error refusing the upgrade: b:1 is not an OpenBao server image: `bao version` exited 127/,
    );
    expect((err as UsageError).hint).toMatch(/nothing was touched/);
  });

  it('must refuse an image without the binary (moto, prometheus, haproxy) as not a server image, not as a downgrade', async () => {
    class NoBinary extends FakeRuntime {
      override async runImage(image: string): Promise<{ exitCode: number; output: string }> {
        throw new RemoteError(
          `running bao version in image ${image}`,
          'failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: "bao": executable file not found in $PATH: unknown',
        );
      }
    }
    const rt = new NoBinary(['vaultctl/moto:5.2.1']);
    rt.labelsOfImages.set('vaultctl/moto:5.2.1', { 'io.vaultctl.version': '5.2.1' });
    const err = await readImageVersion(rt, 'vaultctl/moto:5.2.1', 'openbao').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).message).toBe(
      'vaultctl/moto:5.2.1 is not an OpenBao server image: it has no `bao` binary (exec: "bao": executable file not found in $PATH)',
    );
  });

  it('must refuse the other flavor: a Vault binary is not an OpenBao server', async () => {
    const rt = new FakeRuntime(['v:1']);
    rt.imageRuns.set('v:1', { exitCode: 0, output: 'Vault v1.18.0 (x)' });
    await expect(readImageVersion(rt, 'v:1', 'openbao')).rejects.toThrow(/not an OpenBao server image/);
    expect(await readImageVersion(rt, 'v:1', 'vault')).toEqual({ version: '1.18.0', source: 'binary' });
  });

  it('must pass on a Docker failure that is not a missing binary', async () => {
    class Down extends FakeRuntime {
      override async runImage(): Promise<{ exitCode: number; output: string }> {
        throw new RemoteError('running bao version', 'connect ENOENT /var/run/docker.sock');
      }
    }
    await expect(readImageVersion(new Down(['a:1']), 'a:1', 'openbao')).rejects.toBeInstanceOf(RemoteError);
  });
});

describe('upgrade preflight', () => {
  const saved = { name: 'up', version: '2.6.2', apiPortBase: 18900 };

  it('must put the target in the saved input: an image replaces the version and the other way round', () => {
    expect(targetInput(saved, { image: 'x/openbao:2.7.2' })).toEqual({
      name: 'up',
      apiPortBase: 18900,
      image: 'x/openbao:2.7.2',
    });
    expect(targetInput({ ...saved, image: 'a:2.6.2' }, { version: '2.7.2' })).toEqual({
      name: 'up',
      apiPortBase: 18900,
      version: '2.7.2',
    });
  });

  it('must refuse a target spec that does not validate, with every problem', () => {
    const bad = targetInput({ ...saved, nodeCount: 4 }, { version: '2.7.2' });
    expect(() => resolveSpec(bad)).toThrow(ConfigError);
  });

  it('must refuse moving an awskms cluster to a 2.7 image without a KMS plugin, naming the reason', () => {
    const awskms = {
      ...saved,
      seal: { type: 'awskms', awskms: { region: 'eu-central-1', kmsKeyId: 'alias/unseal' } },
    };
    expect(() => resolveSpec(awskms)).not.toThrow();
    let err: unknown;
    try {
      resolveSpec(targetInput(awskms, { version: '2.7.2' }));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const problems = (err as ConfigError).problems;
    expect(problems.map((p) => p.path)).toEqual(['seal.type']);
    expect(JSON.stringify(problems)).toContain('unknown wrapper: awskms');
  });

  const health = (over: Partial<ClusterHealth> = {}): ClusterHealth => ({
    verdict: 'healthy',
    reasons: [],
    nodes: [],
    expectedVoters: 3,
    activeCount: 1,
    raft: { voters: ['a', 'b', 'c'], servers: 3, failureTolerance: 1, autopilotHealthy: true },
    ...over,
  });

  it('must pass a healthy cluster that can lose a node', () => {
    expect(() => requireHealthy(health())).not.toThrow();
  });

  it('must refuse a degraded cluster, no tolerance, or unknown autopilot, saying nothing was touched', () => {
    expect(() => requireHealthy(health({ verdict: 'degraded', reasons: ['vault-3 unreachable'] }))).toThrow(
      /not healthy: vault-3 unreachable/,
    );
    expect(() =>
      requireHealthy(
        health({ raft: { voters: [], servers: 3, failureTolerance: 0, autopilotHealthy: true } }),
      ),
    ).toThrow(/failure tolerance 0/);
    expect(() => requireHealthy(health({ raft: { voters: [], servers: 3 } }))).toThrow(/autopilot/);
    let err: unknown;
    try {
      requireHealthy(health({ verdict: 'down', reasons: ['no active node'] }));
    } catch (e) {
      err = e;
    }
    // A refusal is required: with nothing thrown this fails, where the check inside a catch passed.
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).hint).toMatch(/nothing was touched/);
  });

  it('must take exactly one target', () => {
    expect(parseTarget({ image: 'a:1' })).toEqual({ image: 'a:1' });
    expect(parseTarget({ serverVersion: '2.7.2' })).toEqual({ version: '2.7.2' });
    expect(() => parseTarget({})).toThrow(UsageError);
    expect(() => parseTarget({ image: 'a', serverVersion: '2.7.2' })).toThrow(/both/);
    expect(() => parseTarget({ serverVersion: 'latest' })).toThrow(/not a server version/);
  });
});

describe('upgrade traffic figures', () => {
  const w = (seq: number, issuedAt: number, ackAt?: number): WriteRecord => ({
    seq,
    issuedAt,
    attempts: 1,
    ...(ackAt !== undefined ? { ackAt } : {}),
  });

  it('must report the longest gap between acknowledgements, counted to the end', () => {
    const writes = [w(0, 0, 10), w(1, 50, 60), w(2, 100, 700), w(3, 150, 710), w(4, 200)];
    const t = trafficReport(writes, 800, []);
    expect(t).toMatchObject({ sent: 5, acked: 4, failed: 1, lost: 0, longestAckGapMs: 640 });
  });

  it('must measure a step from the last acknowledgement before it', () => {
    const writes = [w(0, 0, 100), w(1, 50, 900)];
    expect(longestAckGap(writes, 500, 1000)).toBe(800);
    expect(longestAckGap([], 0, 1000)).toBeNull();
  });

  it('must count lost writes and keep samples', () => {
    expect(trafficReport([w(0, 0, 1)], 2, [0]).lost).toBe(1);
  });
});

describe('upgrade stop hints (issue 26 item 1)', () => {
  const facts = (over: Partial<StopFacts> = {}): StopFacts => ({
    cancelled: false,
    targetImage: 'vaultctl/openbao:2.7.2',
    targetVersion: '2.7.2',
    nodes: ['vault-1', 'vault-2', 'vault-3'].map((name) => ({
      name,
      container: `c-${name}`,
      onTarget: false,
    })),
    done: [],
    touching: undefined,
    saved: false,
    snapshot: '/s/a.snap',
    ...over,
  });

  it('must not say "no node recreated" when the first node was being recreated, and send to `up` only while the spec is the old one', () => {
    const r = howToGoOn(facts({ touching: 'vault-2' }));
    expect(r.state).toMatch(/vault-2 was being recreated with vaultctl\/openbao:2.7.2 and is not back/);
    expect(r.state).toMatch(/saved spec still names the old image/);
    expect(r.hint).toMatch(/`vaultctl up` recreates vault-2 alone with the old image/);
  });

  it('must never send to `vaultctl up` while the saved spec names the target and other nodes are still old', () => {
    const r = howToGoOn(facts({ touching: 'vault-3', done: ['vault-2'], saved: true }));
    expect(r.hint).toMatch(/^bring vault-3 back alone: .*docker start c-vault-3/);
    expect(r.hint).toMatch(
      /Do not run `vaultctl up` before: .* would also recreate vault-1 at the same time/,
    );
  });

  it('may send to `vaultctl up` when the node out is the last one off the target', () => {
    const r = howToGoOn(
      facts({
        touching: 'vault-1',
        done: ['vault-3'],
        saved: true,
        nodes: facts().nodes.map((n) => ({ ...n, onTarget: n.name === 'vault-2' })),
      }),
    );
    expect(r.state).toMatch(/no node is left on the old image/);
    expect(r.hint).toMatch(/^`vaultctl up` recreates vault-1 from the saved spec/);
  });

  it('must send a run stopped between nodes to a rerun, not to `up`', () => {
    const r = howToGoOn(facts({ cancelled: true, done: ['vault-2'], saved: true }));
    expect(r.state).toMatch(/^upgrade cancelled: vault-2 recreated/);
    expect(r.hint).toMatch(/run the same command again/);
    expect(r.hint).not.toMatch(/vaultctl up/);
  });
});
