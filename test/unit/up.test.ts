/**
 * `upCluster` against the in-memory runtime: a run that fails or is cancelled half-way removes what
 * it created in that run, and only that; refusals touch nothing; a run whose nodes answer (the
 * OpenBao fake) leaves nothing for the next run to do. No Docker.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isAbortError, RemoteError, UsageError } from '../../src/errors.js';
import { upCluster } from '../../src/lifecycle/up.js';
import { LABELS } from '../../src/runtime/port.js';
import { resolveSpec } from '../../src/spec/resolve.js';
import { defaultImage, PINNED } from '../../src/spec/schema.js';
import { StateDir } from '../../src/state/state-dir.js';
import type { VaultConnector } from '../../src/vault/port.js';
import { everyPortFree, FakeRuntime } from '../helpers/fake-runtime.js';
import { FakeVault } from '../helpers/fake-vault.js';
import { RecordingProgress, silentProgress } from '../helpers/progress.js';

const spec = resolveSpec({ name: 'vctl-unit-up', apiPortBase: 18940, tls: { enabled: false } }).spec;

let base: string;
let state: StateDir;
beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'vaultctl-up-'));
  state = StateDir.forCluster(base, spec.name);
});
afterEach(() => rmSync(base, { recursive: true, force: true }));

/** These runs fail before any node is asked anything: a node API that exists would be a bug. */
const noNodes: VaultConnector = ({ address }) => {
  throw new Error(`no node API expected in this test (asked for ${address})`);
};

const creations = (rt: FakeRuntime) => rt.calls.filter((c) => /^create/.test(c) && !c.endsWith('(failed)'));

describe('upCluster rollback (fake runtime)', () => {
  it('a container that cannot be created half-way: everything this run created is removed, newest first', async () => {
    const rt = new FakeRuntime([spec.image]);
    rt.failOn(
      'createContainer',
      'vctl-unit-up-vault-2',
      new RemoteError('creating vault-2', 'engine said no'),
    );
    await expect(
      upCluster(spec, state, {
        runtime: rt,
        progress: silentProgress,
        connect: noNodes,
        portIsFree: everyPortFree,
      }),
    ).rejects.toThrow('engine said no');
    // It had created the network, the six volumes and vault-1 before the failure.
    expect(creations(rt)).toContain('createContainer vctl-unit-up-vault-1');
    expect(creations(rt)).toContain('createNetwork vctl-unit-up-net');
    expect(rt.containers.size).toBe(0);
    expect(rt.volumes.size).toBe(0);
    expect(rt.networks.size).toBe(0);
    const removals = rt.calls.filter((c) => c.startsWith('remove'));
    expect(removals[0]).toBe('removeContainer vctl-unit-up-vault-1');
    expect(removals.at(-1)).toBe('removeNetwork vctl-unit-up-net');
  });

  it('volumes that existed before the run survive its rollback', async () => {
    const rt = new FakeRuntime([spec.image]);
    // An earlier run left vault-1's volumes (and the state dir keeps the seal key that opens them).
    state.ensure();
    state.ensureSealKey();
    for (const kind of ['data', 'logs']) {
      await rt.createVolume(`vctl-unit-up-vault-1-${kind}`, {
        [LABELS.cluster]: spec.name,
        [LABELS.node]: 'vault-1',
        [LABELS.kind]: kind,
      });
    }
    rt.failOn('startContainer', 'vctl-unit-up-vault-3', new RemoteError('starting vault-3', 'no'));
    await expect(
      upCluster(spec, state, {
        runtime: rt,
        progress: silentProgress,
        connect: noNodes,
        portIsFree: everyPortFree,
      }),
    ).rejects.toThrow();
    expect([...rt.volumes.keys()].sort()).toEqual(['vctl-unit-up-vault-1-data', 'vctl-unit-up-vault-1-logs']);
    expect(rt.containers.size).toBe(0);
    expect(rt.networks.size).toBe(0);
  });

  it('Ctrl-C half-way: the run stops, removes what it created, and says it was cancelled', async () => {
    const rt = new FakeRuntime([spec.image]);
    const ac = new AbortController();
    rt.onCall = (method) => {
      if (method === 'createVolume') ac.abort();
    };
    const err = await upCluster(spec, state, {
      runtime: rt,
      progress: silentProgress,
      connect: noNodes,
      portIsFree: everyPortFree,
      signal: ac.signal,
    }).catch((e) => e);
    expect(isAbortError(err)).toBe(true);
    expect(rt.calls.filter((c) => c.startsWith('createContainer'))).toEqual([]);
    expect(rt.volumes.size).toBe(0);
    expect(rt.networks.size).toBe(0);
  });

  it('container names held by containers vaultctl does not manage: refused before anything is created', async () => {
    const rt = new FakeRuntime([spec.image, 'other']);
    await rt.createContainer({
      name: 'vctl-unit-up-vault-2',
      hostname: 'x',
      image: 'other',
      entrypoint: [],
      cmd: [],
      env: {},
      passEnv: [],
      labels: {},
      mounts: [],
      ports: [],
      network: { name: 'bridge', aliases: [] },
      restart: 'no',
    });
    rt.calls.length = 0;
    const err = await upCluster(spec, state, {
      runtime: rt,
      progress: silentProgress,
      connect: noNodes,
      portIsFree: everyPortFree,
    }).catch((e) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).message).toContain('vctl-unit-up-vault-2');
    expect(creations(rt)).toEqual([]);
    expect(rt.containers.size).toBe(1);
  });
});

describe('upCluster preflight and what it remembers (fake runtime)', () => {
  it('a port in use is refused before the state dir, the seal key or the CA are created', async () => {
    // The real probe, on a port the OS chose: a fixed port could be held by a test running beside.
    const busy = createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    const port = (busy.address() as AddressInfo).port;
    const held = resolveSpec({ name: 'vctl-unit-up', apiPortBase: port, tls: { enabled: false } }).spec;
    try {
      const rt = new FakeRuntime([held.image]);
      const err = await upCluster(held, state, {
        runtime: rt,
        progress: silentProgress,
        connect: noNodes,
      }).catch((e) => e);
      expect(err).toBeInstanceOf(UsageError);
      expect((err as UsageError).message).toContain(`127.0.0.1:${port} (vault-1)`);
      expect(state.exists()).toBe(false);
      expect(existsSync(state.sealKeyFile)).toBe(false);
      expect(creations(rt)).toEqual([]);
    } finally {
      busy.close();
    }
  });

  it('an image that cannot be pulled is not remembered: the next plain up plans with the old one', async () => {
    const rt = new FakeRuntime([spec.image]);
    // A first, applied spec (its run fails later, at the nodes, which it never reaches here).
    state.ensure();
    state.saveSpec(spec);
    const wanted = resolveSpec({ ...spec.input, image: 'registry.invalid/openbao:9.9.9' }).spec;
    rt.failOn('pullImage', wanted.image, new Error('pull access denied'));
    const err = await upCluster(wanted, state, {
      runtime: rt,
      progress: silentProgress,
      connect: noNodes,
      portIsFree: everyPortFree,
    }).catch((e) => e);
    expect(err).toBeInstanceOf(RemoteError);
    expect((err as RemoteError).render()).toContain('image build --binary');
    expect(state.readSavedSpec()).toEqual(spec.input);
    expect(JSON.stringify(state.readSavedSpec())).not.toContain('registry.invalid');
    expect(rt.containers.size).toBe(0);
  });

  it('the default upstream image absent but the locally built pinned one present: that one is used, and said', async () => {
    const upstream = resolveSpec({ name: 'vctl-unit-up', apiPortBase: 18940, tls: { enabled: false } }).spec;
    expect(upstream.image).toBe(defaultImage('openbao'));
    const local = `vaultctl/openbao:${PINNED.openbao}`;
    const rt = new FakeRuntime([local]);
    rt.failOn('createContainer', 'vctl-unit-up-vault-1', new Error('stop here'));
    const progress = new RecordingProgress();
    await upCluster(upstream, state, {
      runtime: rt,
      progress,
      connect: noNodes,
      portIsFree: everyPortFree,
    }).catch(() => undefined);
    expect(rt.calls).not.toContain(`pullImage ${upstream.image}`);
    expect(progress.lines.join('\n')).toContain(`using the locally built image ${local}`);
    expect(rt.calls).toContain('createContainer vctl-unit-up-vault-1 (failed)');
  });
});

describe('upCluster success path (fake runtime, fake OpenBao nodes)', () => {
  it('starts every node, waits until each answers, and a second run plans nothing', async () => {
    const rt = new FakeRuntime([spec.image]);
    const fake = FakeVault.forSpec(spec);
    const deps = {
      runtime: rt,
      progress: silentProgress,
      connect: fake.connect,
      clock: fake.clock,
      portIsFree: everyPortFree,
    };
    const first = await upCluster(spec, state, deps);
    expect(first.plan.steps.filter((s) => s.action === 'start-container').map((s) => s.target)).toEqual([
      'vctl-unit-up-vault-1',
      'vctl-unit-up-vault-2',
      'vctl-unit-up-vault-3',
      'vctl-unit-up-endpoint',
    ]);
    expect([...rt.containers.values()].map((c) => c.state)).toEqual([
      'running',
      'running',
      'running',
      'running',
    ]);
    expect(new Set(fake.calls.map((c) => `${c.node} ${c.method}`))).toEqual(
      new Set(['vault-1 sealStatus', 'vault-2 sealStatus', 'vault-3 sealStatus']),
    );
    expect(first.nodes.map((n) => n.address)).toEqual([
      'http://127.0.0.1:18940',
      'http://127.0.0.1:18942',
      'http://127.0.0.1:18944',
    ]);

    rt.calls.length = 0;
    const second = await upCluster(spec, state, deps);
    expect(second.plan.steps).toEqual([]);
    expect(second.localSteps).toEqual([]);
    expect(rt.calls.filter((c) => /^(create|start|remove)/.test(c))).toEqual([]);
  });

  it('a node that never answers: the run times out with its log tail and removes what it created', async () => {
    const rt = new FakeRuntime([spec.image]);
    const fake = FakeVault.forSpec(spec);
    fake.setReachable('vault-2', false);
    const err = await upCluster(spec, state, {
      runtime: rt,
      progress: silentProgress,
      connect: fake.connect,
      portIsFree: everyPortFree,
      clock: fake.clock,
    }).catch((e) => e);
    expect(err).toBeInstanceOf(RemoteError);
    expect(err).toMatchObject({ doing: 'starting vault-2' });
    expect((err as Error).message).toContain(
      '--- last lines of vctl-unit-up-vault-2 ---\nlog of vctl-unit-up-vault-2',
    );
    expect(rt.containers.size).toBe(0);
    expect(rt.volumes.size).toBe(0);
    expect(rt.networks.size).toBe(0);
  });
});
