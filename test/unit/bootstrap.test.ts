/**
 * `bootstrapCluster` against the in-memory OpenBao fake (static and Shamir seals): a fresh run, a
 * second run that changes nothing, a run interrupted at every one of its operations and resumed,
 * and the refusal without key material. No Docker; the fake clock makes every wait instant.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { managedTokenSources } from '../../src/bootstrap/admin.js';
import { type BootstrapOptions, bootstrapCluster } from '../../src/bootstrap/bootstrap.js';
import { openCluster } from '../../src/cluster/running.js';
import { isAbortError, RemoteError, UsageError } from '../../src/errors.js';
import { resolveSpec } from '../../src/spec/resolve.js';
import type { ClusterSpec } from '../../src/spec/schema.js';
import { StateDir } from '../../src/state/state-dir.js';
import { FakeRuntime } from '../helpers/fake-runtime.js';
import { type CallRecord, FakeVault, type Fault } from '../helpers/fake-vault.js';
import { RecordingProgress } from '../helpers/progress.js';

let base: string;
beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'vaultctl-bootstrap-'));
});
afterEach(() => rmSync(base, { recursive: true, force: true }));

type Seal = 'static' | 'shamir';

interface World {
  readonly spec: ClusterSpec;
  readonly state: StateDir;
  readonly fake: FakeVault;
  /** init.json as first seen by any request after it was written. */
  firstInit?: string;
  /** Requests that arrived once the cluster was initialised but found no init.json. */
  readonly beforeKeysStored: CallRecord[];
}

function world(seal: Seal, dir = 'a'): World {
  const spec = resolveSpec({
    name: 'vctl-unit-boot',
    apiPortBase: 18960,
    tls: { enabled: false },
    seal: { type: seal },
  }).spec;
  const state = StateDir.forCluster(join(base, dir), spec.name);
  const w: World = { spec, state, fake: FakeVault.forSpec(spec), beforeKeysStored: [] };
  w.fake.onCall = (c) => {
    const stored = existsSync(state.initFile);
    if (stored) w.firstInit ??= readFileSync(state.initFile, 'utf8');
    else if (w.fake.server.initialized) w.beforeKeysStored.push(c);
  };
  return w;
}

/** The cluster as `openManagedCluster` opens it, on the fake: the same token sources (not a copy). */
function open(w: World, env: { token?: string } = {}) {
  const { spec, state, fake } = w;
  const cluster = openCluster({
    spec,
    state,
    connect: fake.connect,
    clock: fake.clock,
    runtime: () => new FakeRuntime(),
    tokens: managedTokenSources(state, () => cluster.nodes, env.token),
  });
  return cluster;
}

const run = (w: World, opts: BootstrapOptions & { signal?: AbortSignal } = {}) =>
  bootstrapCluster(
    open(w),
    { progress: new RecordingProgress(), signal: opts.signal },
    { timeoutMs: 30_000, ...opts },
  );

/** Requests that change something (every POST/PUT/DELETE), in the order a run sends them. */
const changes = (calls: readonly CallRecord[]) => calls.filter((c) => !c.op.startsWith('GET '));

/** What a client of the cluster sees afterwards: the stored credentials work, the keys are the cluster's. */
async function expectUsableCredentials(w: World): Promise<void> {
  const { state, fake, spec } = w;
  const material = state.readInit()!;
  expect(material.keys).toEqual(fake.server.keys);
  expect(material.rootToken).toBe(fake.server.rootToken);
  const leader = fake.connect({ address: `http://127.0.0.1:${spec.nodes[0]!.apiPort}` });
  const cred = state.readAppRole()!;
  expect(cred.roleName).toBe('alphapulse-app');
  const login = await leader.write<{ auth: { policies: string[] } }>('auth/approle/login', {
    role_id: cred.roleId,
    secret_id: cred.secretId,
  });
  expect(login.auth.policies).toContain('app-read');
  leader.setToken(material.rootToken);
  const metrics = await leader.write<{ data: { policies: string[] } }>('auth/token/lookup', {
    token: state.readMetricsToken(),
  });
  expect(metrics.data.policies).toEqual(['metrics']);
}

describe.each<Seal>(['static', 'shamir'])('bootstrapCluster, %s seal (fake OpenBao)', (seal) => {
  const keyKind = seal === 'static' ? 'recovery' : 'unseal';

  it('a fresh cluster: initialised, unsealed, three voters, configured; keys stored before anything else', async () => {
    const w = world(seal);
    const res = await run(w);
    expect(res.initialisedNow).toBe(true);
    expect(res.leader).toBe('vault-1');
    expect(res.voters).toEqual(['vault-1', 'vault-2', 'vault-3']);
    expect(res.steps.map((s) => [s.step, s.changed])).toEqual([
      ['initialise vault-1', true],
      // An auto-unseal node unseals itself: waited for, not done by vaultctl.
      ['unseal vault-1', seal === 'shamir'],
      // A new cluster: autopilot promotes the followers after 2 s, not the spec's 10 s ...
      ['configure autopilot', true],
      ['join followers', true],
      // ... and the configuration is written while it does (it needs no follower as a voter).
      // Declared in the HCL on OpenBao: found, not created.
      ['audit device', false],
      ['KV v2', true],
      ['policies', true],
      ['metrics token', true],
      ['AppRole', true],
      ['raft voters', false],
      // Then the spec's stabilisation time again.
      ['configure autopilot', true],
    ]);
    expect(res.steps[2]!.detail).toContain('stabilisation 2s while the followers join');
    expect(res.steps[0]!.detail).toBe(
      `5 ${keyKind} key shares, threshold 3, stored in ${w.state.initFile} (0600)`,
    );

    // The keys were on disk before the next request left: nothing ran between init and the write.
    expect(w.fake.calls.some((c) => c.method === 'init')).toBe(true);
    expect(w.beforeKeysStored).toEqual([]);
    expect(statSync(w.state.initFile).mode & 0o777).toBe(0o600);
    expect(statSync(w.state.appRoleFile).mode & 0o777).toBe(0o600);
    const material = w.state.readInit()!;
    expect(material).toMatchObject({
      cluster: 'vctl-unit-boot',
      sealType: seal,
      keyKind,
      shares: 5,
      threshold: 3,
    });
    await expectUsableCredentials(w);

    const cluster = w.fake.server.snapshot();
    expect(cluster.nodes.every((n) => n.member && !n.sealed)).toBe(true);
    expect(cluster.servers).toEqual(['vault-1', 'vault-2', 'vault-3'].map((name) => ({ name, voter: true })));
    expect(cluster.autopilot).toMatchObject({
      cleanup_dead_servers: true,
      min_quorum: 3,
      server_stabilization_time: 10_000,
    });
    expect(cluster.mounts['secret/']).toEqual({ type: 'kv', options: { version: '2' } });
    expect(Object.keys(cluster.policies)).toEqual(expect.arrayContaining(['admin', 'app-read', 'metrics']));
    expect(cluster.appRoles['alphapulse-app']).toEqual({
      token_policies: ['app-read'],
      token_ttl: 3600,
      token_max_ttl: 14400,
    });
  });

  it('a second run changes nothing: every step already done, only checks are sent', async () => {
    const w = world(seal);
    await run(w);
    const before = {
      init: readFileSync(w.state.initFile, 'utf8'),
      approle: readFileSync(w.state.appRoleFile, 'utf8'),
    };
    const cluster = w.fake.server.snapshot();
    const from = w.fake.calls.length;
    const res = await run(w);
    expect(res.initialisedNow).toBe(false);
    expect(res.steps.filter((s) => s.changed)).toEqual([]);
    // The stored credentials are checked (a login, a lookup) and the metrics token renewed; no write.
    const sent = new Set(changes(w.fake.calls.slice(from)).map((c) => c.op));
    expect([...sent].sort()).toEqual([
      'POST auth/approle/login',
      'POST auth/token/lookup',
      'POST auth/token/renew',
    ]);
    expect(readFileSync(w.state.initFile, 'utf8')).toBe(before.init);
    expect(readFileSync(w.state.appRoleFile, 'utf8')).toBe(before.approle);
    expect(w.fake.server.snapshot()).toEqual(cluster);
  });

  it('interrupted at each of its operations, then run again: finishes, same end state, keys never replaced', async () => {
    const baseline = world(seal, 'baseline');
    await run(baseline);
    const want = baseline.fake.server.snapshot();
    const ops = changes(baseline.fake.calls);
    const kinds = ops.map((o) => `${o.method} ${o.op}`);
    expect(new Set(kinds)).toEqual(
      new Set([
        'init PUT sys/init',
        ...(seal === 'shamir' ? ['unseal PUT sys/unseal'] : []),
        'setAutopilotConfig POST sys/storage/raft/autopilot/configuration',
        // Shamir followers join through retry_join alone (see the next test).
        ...(seal === 'static' ? ['raftJoin PUT sys/storage/raft/join'] : []),
        'mount POST sys/mounts/secret',
        'writePolicy PUT sys/policies/acl/tenant-access',
        'writePolicy PUT sys/policies/acl/app-read',
        'writePolicy PUT sys/policies/acl/admin',
        'writePolicy PUT sys/policies/acl/metrics',
        'write POST auth/token/roles/vaultctl-metrics',
        'write POST auth/token/create/vaultctl-metrics',
        'enableAuth POST sys/auth/approle',
        'write POST auth/approle/role/alphapulse-app',
        'write POST auth/approle/role/alphapulse-app/secret-id',
      ]),
    );

    let dir = 0;
    const interrupted: string[] = [];
    for (const [k, op] of ops.entries()) {
      const nth = ops.slice(0, k + 1).filter((o) => o.node === op.node && o.op === op.op).length;
      // The request is lost on the way (the node never saw it), or the node acted and the answer
      // was lost; either way the node is unreachable from then on, until the next run. The lost
      // answer of init is the one no client survives (its keys are gone): see the refusal test.
      const variants: Fault[] = [{ on: op.op, node: op.node, nth, down: true }];
      if (op.method !== 'init') variants.push({ ...variants[0]!, after: true });
      for (const fault of variants) {
        const label = `${k + 1}. ${op.node} ${op.op} #${nth}${fault.after ? ' (answer lost)' : ''}`;
        const w = world(seal, `run-${dir++}`);
        w.fake.fail(fault);
        const err = await run(w).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err, label).toBeInstanceOf(RemoteError);
        const firstKeys = existsSync(w.state.initFile) ? readFileSync(w.state.initFile, 'utf8') : undefined;
        await w.fake.settle();
        w.fake.heal();

        const res = await run(w).catch((e: Error) => {
          throw new Error(`${label}: the resumed run failed: ${e.message}`);
        });
        expect([...res.voters].sort(), label).toEqual(['vault-1', 'vault-2', 'vault-3']);
        expect(w.fake.server.snapshot(), label).toEqual(want);
        if (firstKeys) expect(readFileSync(w.state.initFile, 'utf8'), label).toBe(firstKeys);
        expect(readFileSync(w.state.initFile, 'utf8'), label).toBe(w.firstInit);
        expect(w.beforeKeysStored, label).toEqual([]);
        await expectUsableCredentials(w);
        const again = await run(w);
        expect(
          again.steps.filter((s) => s.changed),
          label,
        ).toEqual([]);
        interrupted.push(label);
      }
    }
    expect(interrupted.length).toBe(ops.length * 2 - 1);
  });

  it('followers join through retry_join; an explicit join only with an auto-unseal seal (beside retry_join it can wedge a Shamir node)', async () => {
    const w = world(seal);
    await run(w);
    const joins = w.fake.calls.filter((c) => c.method === 'raftJoin').map((c) => c.node);
    expect(joins).toEqual(seal === 'static' ? ['vault-2', 'vault-3'] : []);
    if (seal === 'shamir') {
      // Joined by retry_join, unsealed by the stored shares: at least the threshold of them sent.
      for (const node of ['vault-2', 'vault-3']) {
        const unseals = w.fake.calls.filter((c) => c.node === node && c.method === 'unseal');
        expect(unseals.length, node).toBeGreaterThanOrEqual(3);
      }
    }
    for (const n of w.spec.nodes) expect(w.fake.server.wedged(n.name), n.name).toBe(false);
  });

  it('cancelled (AbortSignal) after each of its operations, then run again: finishes in the same end state', async () => {
    const baseline = world(seal, 'baseline');
    await run(baseline);
    const want = baseline.fake.server.snapshot();
    const ops = changes(baseline.fake.calls);
    for (const k of ops.keys()) {
      const label = `cancelled after operation ${k + 1} (${ops[k]!.op})`;
      const w = world(seal, `abort-${k}`);
      const ac = new AbortController();
      let seen = 0;
      const watch = w.fake.onCall!;
      w.fake.onCall = (c) => {
        watch(c);
        if (!c.op.startsWith('GET ') && ++seen === k + 1) ac.abort();
      };
      // The run stops at its next wait (the last one, every node healthy, follows the configuration).
      const err = await run(w, { signal: ac.signal }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isAbortError(err), label).toBe(true);
      await w.fake.settle();
      w.fake.onCall = watch;
      await run(w);
      expect(w.fake.server.snapshot(), label).toEqual(want);
      expect(readFileSync(w.state.initFile, 'utf8'), label).toBe(w.firstInit);
      expect(w.beforeKeysStored, label).toEqual([]);
      await expectUsableCredentials(w);
    }
  });
});

describe('bootstrapCluster refuses without key material or token', () => {
  const refusal = (w: World) => ({
    doing: 'configuring cluster vctl-unit-boot',
    message: `the cluster is already initialised but ${w.state.initFile} does not exist, and no VAULT_TOKEN/BAO_TOKEN is set`,
    hint: 'point --state-dir at the state dir that holds init.json, or export VAULT_TOKEN with an admin token to finish the setup',
  });

  it('a cluster initialised elsewhere, an empty state dir: the usage error and its hint, nothing configured', async () => {
    const w = world('static');
    await w.fake
      .connect({ address: 'http://127.0.0.1:18960' })
      .init({ recovery_shares: 1, recovery_threshold: 1 });
    const from = w.fake.calls.length;
    const err = await run(w).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect(err).toMatchObject(refusal(w));
    expect(existsSync(w.state.initFile)).toBe(false);
    expect(changes(w.fake.calls.slice(from))).toEqual([]);
  });

  it('the answer to init lost: the next run cannot resume, and says why', async () => {
    const w = world('static');
    w.fake.fail({ on: 'init', after: true, down: true });
    expect(await run(w).catch((e: unknown) => e)).toBeInstanceOf(RemoteError);
    await w.fake.settle();
    w.fake.heal();
    const err = await run(w).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect(err).toMatchObject(refusal(w));
  });

  it('Shamir, the answer to init lost: the sealed first node cannot be unsealed without the shares', async () => {
    const w = world('shamir');
    w.fake.fail({ on: 'init', after: true, down: true });
    expect(await run(w).catch((e: unknown) => e)).toBeInstanceOf(RemoteError);
    await w.fake.settle();
    w.fake.heal();
    const err = await run(w).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect(err).toMatchObject({
      doing: 'unsealing vault-1',
      message: 'no unseal keys in the state dir',
      hint: 'type them in: `vaultctl unseal --prompt`',
    });
  });

  it('with BAO_TOKEN set, the same cluster is configured', async () => {
    const w = world('static');
    const root = await w.fake
      .connect({ address: 'http://127.0.0.1:18960' })
      .init({ recovery_shares: 1, recovery_threshold: 1 });
    const res = await bootstrapCluster(
      open(w, { token: root.root_token }),
      { progress: new RecordingProgress() },
      { timeoutMs: 30_000 },
    );
    expect(res.initialisedNow).toBe(false);
    expect(res.voters).toEqual(['vault-1', 'vault-2', 'vault-3']);
  });
});

describe('bootstrapCluster --revoke-root (fake OpenBao)', () => {
  it('the admin credential replaces the root token; the next run logs in with it and changes nothing', async () => {
    const w = world('shamir');
    const res = await run(w, { revokeRoot: true });
    expect(res.steps.at(-1)).toMatchObject({ step: 'revoke the root token', changed: true });
    expect(w.state.rootRevoked()).toBe(true);
    expect(statSync(w.state.adminFile).mode & 0o777).toBe(0o600);
    expect(w.fake.server.snapshot().rootTokenValid).toBe(false);
    const from = w.fake.calls.length;
    const again = await run(w, { revokeRoot: true });
    expect(again.steps.filter((s) => s.changed)).toEqual([]);
    expect(w.fake.calls.slice(from).some((c) => c.op === 'POST auth/approle/login')).toBe(true);
  });
});
