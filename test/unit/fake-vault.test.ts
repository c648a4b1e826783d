/**
 * The OpenBao fake answers as the server does where vaultctl can tell (statuses, seal states),
 * and its fault hooks do what they say. Tests through it are worth only as much as this.
 */
import { describe, expect, it } from 'vitest';
import { resolveSpec } from '../../src/spec/resolve.js';
import { VaultRequestError } from '../../src/vault/port.js';
import { FakeVault } from '../helpers/fake-vault.js';

const spec = (seal: 'static' | 'shamir') =>
  resolveSpec({ name: 'vctl-unit-fake', apiPortBase: 18980, tls: { enabled: false }, seal: { type: seal } })
    .spec;
const addr = (i: number) => `http://127.0.0.1:${18980 + 2 * i}`;

const failure = (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error('expected a failure');
    },
    (e: VaultRequestError) => {
      expect(e).toBeInstanceOf(VaultRequestError);
      return { kind: e.kind, status: e.status, errors: e.errors };
    },
  );

describe('FakeVault', () => {
  it('Shamir: sealed after init, unsealed by the threshold of shares; a wrong share resets progress', async () => {
    const fake = FakeVault.forSpec(spec('shamir'));
    const api = fake.connect({ address: addr(0) });
    expect(await failure(api.unseal('AAAA'))).toMatchObject({
      status: 400,
      errors: ['Vault is not initialized'],
    });
    const res = await api.init({ secret_shares: 3, secret_threshold: 2 });
    expect(await failure(api.init({ secret_shares: 3, secret_threshold: 2 }))).toMatchObject({ status: 400 });
    expect(await api.sealStatus()).toMatchObject({
      initialized: true,
      sealed: true,
      t: 2,
      n: 3,
      progress: 0,
    });
    api.setToken(res.root_token);
    expect(await failure(api.mounts())).toMatchObject({ status: 503 });
    await api.unseal(res.keys_base64![0]!);
    await expect(api.unseal(Buffer.from('x'.repeat(33)).toString('base64'))).rejects.toMatchObject({
      status: 400,
    });
    expect((await api.sealStatus()).progress).toBe(0);
    await api.unseal(res.keys![1]!);
    expect((await api.unseal(res.keys![2]!)).sealed).toBe(false);
    // Active only after an election; a standby serves nothing without one.
    expect((await api.health()).standby).toBe(true);
    await fake.clock.sleep(1000);
    expect(await api.health()).toMatchObject({ initialized: true, sealed: false, standby: false });
    expect(Object.keys(await api.mounts())).toContain('sys/');
    api.setToken('s.not-a-token');
    expect(await failure(api.mounts())).toMatchObject({ status: 403, errors: ['permission denied'] });
  });

  it('static: unsealed on init; a follower joins, auto-unseals, and becomes a voter after stabilisation', async () => {
    const fake = FakeVault.forSpec(spec('static'));
    const leader = fake.connect({ address: addr(0) });
    const follower = fake.connect({ address: addr(1) });
    const res = await leader.init({ recovery_shares: 1, recovery_threshold: 1 });
    expect(res.recovery_keys_base64).toHaveLength(1);
    expect((await leader.sealStatus()).sealed).toBe(false);
    expect(await failure(follower.raftJoin('http://vault-1:8200'))).toMatchObject({ status: 500 });
    await fake.clock.sleep(1000);
    expect(await follower.raftJoin('http://vault-1:8200')).toEqual({ joined: true });
    await fake.clock.sleep(500);
    expect(await follower.sealStatus()).toMatchObject({ initialized: true, sealed: false });
    leader.setToken(res.root_token);
    expect((await leader.raftServers()).map((s) => [s.node_id, s.voter])).toEqual([
      ['vault-1', true],
      ['vault-2', false],
    ]);
    await fake.clock.sleep(10_000);
    expect((await leader.autopilotState()).voters).toEqual(['vault-1', 'vault-2']);
    expect((await leader.autopilotConfig()).dead_server_last_contact_threshold).toBe('24h0m0s');
  });

  it('retry_join (as forSpec renders it): a follower joins by itself; Shamir: the shares then unseal it', async () => {
    const fake = FakeVault.forSpec(spec('shamir'));
    const leader = fake.connect({ address: addr(0) });
    const follower = fake.connect({ address: addr(1) });
    const res = await leader.init({ secret_shares: 3, secret_threshold: 2 });
    for (const k of res.keys_base64!.slice(0, 2)) await leader.unseal(k);
    await fake.clock.sleep(1000);
    expect(await follower.sealStatus()).toMatchObject({ initialized: false, sealed: true });
    expect(await failure(follower.unseal(res.keys_base64![0]!))).toMatchObject({
      status: 400,
      errors: ['Vault is not initialized'],
    });
    await fake.clock.sleep(2000);
    // retry_join has started: the node waits for the leader's challenge, then takes the shares.
    expect(await follower.sealStatus()).toMatchObject({ initialized: true, sealed: true, t: 0 });
    expect(await failure(follower.unseal(res.keys_base64![0]!))).toMatchObject({
      status: 400,
      errors: ['raft join in progress'],
    });
    await fake.clock.sleep(500);
    await follower.unseal(res.keys_base64![0]!);
    expect((await follower.unseal(res.keys_base64![1]!)).sealed).toBe(false);
    leader.setToken(res.root_token);
    expect((await leader.raftServers()).map((s) => s.node_id)).toEqual(['vault-1', 'vault-2']);
  });

  it('Shamir: an explicit join beside retry_join wedges the follower once unsealed (it answers nothing)', async () => {
    const fake = FakeVault.forSpec(spec('shamir'));
    const leader = fake.connect({ address: addr(0) });
    const follower = fake.connect({ address: addr(1) });
    const res = await leader.init({ secret_shares: 3, secret_threshold: 2 });
    for (const k of res.keys_base64!.slice(0, 2)) await leader.unseal(k);
    await fake.clock.sleep(1000);
    expect(await follower.raftJoin('http://vault-1:8200')).toEqual({ joined: true });
    await fake.clock.sleep(500);
    await follower.unseal(res.keys_base64![0]!);
    expect((await follower.unseal(res.keys_base64![1]!)).sealed).toBe(false);
    expect(fake.server.wedged('vault-2')).toBe(true);
    expect(await failure(follower.sealStatus())).toMatchObject({ kind: 'timeout' });
    // Without retry_join (a single node's HCL has none) the explicit join is harmless.
    const alone = FakeVault.forSpec(spec('shamir'), { retryJoinMs: undefined });
    const l2 = alone.connect({ address: addr(0) });
    const f2 = alone.connect({ address: addr(1) });
    const r2 = await l2.init({ secret_shares: 1, secret_threshold: 1 });
    await l2.unseal(r2.keys_base64![0]!);
    await alone.clock.sleep(1000);
    await f2.raftJoin('http://vault-1:8200');
    await alone.clock.sleep(500);
    expect((await f2.unseal(r2.keys_base64![0]!)).sealed).toBe(false);
    expect(await f2.sealStatus()).toMatchObject({ sealed: false });
  });

  it('faults: the nth call of a method or path, a number of times, or a node down', async () => {
    const fake = FakeVault.forSpec(spec('static'));
    const api = fake.connect({ address: addr(0) });
    fake.fail({ on: 'sealStatus', nth: 2, times: 2, error: { status: 503, errors: ['Vault is sealed'] } });
    fake.fail({ on: 'GET sys/health', error: 'timeout' });
    await api.sealStatus();
    expect(await failure(api.sealStatus())).toMatchObject({ kind: 'http', status: 503 });
    expect(await failure(api.sealStatus())).toMatchObject({ status: 503 });
    await api.sealStatus();
    expect(await failure(api.health())).toMatchObject({ kind: 'timeout' });
    await api.health();
    fake.setReachable('vault-1', false);
    expect(await failure(api.sealStatus())).toMatchObject({ kind: 'unreachable' });
    fake.setReachable('vault-1', true);
    expect(await failure(fake.connect({ address: 'http://127.0.0.1:1' }).health())).toMatchObject({
      kind: 'unreachable',
    });
    expect(fake.calls.filter((c) => c.node === 'vault-1').map((c) => c.method)).toEqual([
      'sealStatus',
      'sealStatus',
      'sealStatus',
      'sealStatus',
      'health',
      'health',
      'sealStatus',
    ]);
  });
});
