/**
 * `init --addr`: the checks before anything changes on a cluster given by addresses. The probe
 * of each address is a fake VaultNode (only sealStatus is asked); the logic is pure.
 */
import { describe, expect, it } from 'vitest';
import { type AddressedTarget, checkAddressedNodes } from '../../src/bootstrap/addressed.js';
import { type NodeHandle, openCluster } from '../../src/cluster/running.js';
import { addressTargets } from '../../src/commands/command-deps.js';
import { parseDrillOptions } from '../../src/commands/failover-drill.js';
import { initAddresses } from '../../src/commands/init.js';
import { validateDrillConfig } from '../../src/drill/config.js';
import { makeFault } from '../../src/drill/faults.js';
import { type RemoteError, UsageError } from '../../src/errors.js';
import { resolveSpec } from '../../src/spec/resolve.js';
import { StateDir } from '../../src/state/state-dir.js';
import type { SealStatus, VaultNode } from '../../src/vault/port.js';
import { VaultRequestError } from '../../src/vault/port.js';
import { RecordingProgress } from '../helpers/progress.js';

const sealed = (initialized: boolean): SealStatus =>
  ({ initialized, sealed: !initialized, t: 1, n: 1, progress: 0, type: 'shamir' }) as unknown as SealStatus;

function target(
  name: string,
  address: string,
  answer: SealStatus | Record<string, unknown> | Error,
): AddressedTarget & { calls: number } {
  const t = {
    name,
    address,
    calls: 0,
    api: {
      sealStatus: async () => {
        t.calls++;
        if (answer instanceof Error) throw answer;
        return answer as SealStatus;
      },
    } as unknown as VaultNode,
  };
  return t;
}

const opts = { clusterName: 'c', haveKeys: false, initFile: '/s/init.json', expectedNodes: 3 };
const ok = (i: number, initialised = false) =>
  target(`vault-${i}`, `https://127.0.0.1:820${i * 2}`, sealed(initialised));

async function refusal(p: Promise<unknown>): Promise<UsageError | RemoteError> {
  const err = await p.then(
    () => new Error('resolved'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(Error);
  return err as UsageError;
}

describe('checkAddressedNodes', () => {
  it('passes three uninitialised nodes and returns their seal status', async () => {
    const got = await checkAddressedNodes([ok(1), ok(2), ok(3)], opts);
    expect([...got.keys()]).toEqual(['vault-1', 'vault-2', 'vault-3']);
  });

  it('refuses an address where nothing listens, exit 1, naming the address', async () => {
    const down = target(
      'vault-3',
      'https://127.0.0.1:8299',
      new VaultRequestError('https://127.0.0.1:8299', 'reading seal status', 'unreachable', {
        cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
      }),
    );
    const err = await refusal(checkAddressedNodes([ok(1), ok(2), down], opts));
    expect(err).toBeInstanceOf(UsageError);
    expect(err.exitCode).toBe(1);
    expect(err.doing).toBe('checking https://127.0.0.1:8299');
    expect(err.message).toContain('no node answers there');
  });

  it('refuses an address that answers HTTP but is not a node (a load balancer)', async () => {
    const lb = target(
      'vault-3',
      'https://127.0.0.1:8206',
      new VaultRequestError('https://127.0.0.1:8206', 'reading seal status', 'http', { status: 503 }),
    );
    const err = await refusal(checkAddressedNodes([ok(1), ok(2), lb], opts));
    expect(err).toBeInstanceOf(UsageError);
    expect(err.message).toContain('it is not a node');
  });

  it('refuses an address whose answer has no seal status', async () => {
    const web = target('vault-3', 'https://127.0.0.1:8206', { hello: 'world' });
    const err = await refusal(checkAddressedNodes([ok(1), ok(2), web], opts));
    expect(err).toBeInstanceOf(UsageError);
    expect(err.message).toContain('not as an OpenBao/Vault node');
  });

  it('refuses http:// for a node that serves HTTPS, with the https address in the hint', async () => {
    const tls = target(
      'vault-1',
      'http://127.0.0.1:8200',
      new VaultRequestError('http://127.0.0.1:8200', 'reading seal status', 'http', {
        status: 400,
        errors: ['Client sent an HTTP request to an HTTPS server.'],
      }),
    );
    const err = await refusal(checkAddressedNodes([tls, ok(2), ok(3)], opts));
    expect(err).toBeInstanceOf(UsageError);
    expect(err.message).toContain('serves HTTPS but the address is http://');
    expect(err.hint).toContain('https://127.0.0.1:8200');
  });

  it('refuses https:// for a node that answers plain HTTP, with the http address in the hint', async () => {
    const plain = target(
      'vault-1',
      'https://127.0.0.1:8200',
      new VaultRequestError('https://127.0.0.1:8200', 'reading seal status', 'tls', {
        cause: Object.assign(new Error('wrong version number'), { code: 'ERR_SSL_WRONG_VERSION_NUMBER' }),
      }),
    );
    const err = await refusal(checkAddressedNodes([plain, ok(2), ok(3)], opts));
    expect(err).toBeInstanceOf(UsageError);
    expect(err.message).toContain('answers plain HTTP but the address is https://');
    expect(err.hint).toContain('http://127.0.0.1:8200');
  });

  it('keeps an untrusted certificate as the TLS error it is (exit 2)', async () => {
    const untrusted = target(
      'vault-1',
      'https://127.0.0.1:8200',
      new VaultRequestError('https://127.0.0.1:8200', 'reading seal status', 'tls', {
        cause: Object.assign(new Error('self signed'), { code: 'SELF_SIGNED_CERT_IN_CHAIN' }),
      }),
    );
    const err = await refusal(checkAddressedNodes([untrusted, ok(2), ok(3)], opts));
    expect(err).toBeInstanceOf(VaultRequestError);
    expect(err.exitCode).toBe(2);
  });

  it('refuses a node initialised by someone else unless the state dir holds the keys', async () => {
    const err = await refusal(checkAddressedNodes([ok(1, true), ok(2), ok(3)], opts));
    expect(err).toBeInstanceOf(UsageError);
    expect(err.message).toContain('https://127.0.0.1:8202 is already initialised');
    expect(err.message).toContain('/s/init.json holds no keys');
    const got = await checkAddressedNodes([ok(1, true), ok(2), ok(3)], { ...opts, haveKeys: true });
    expect(got.get('vault-1')?.initialized).toBe(true);
  });

  it('refuses an address given twice and a node count other than the spec, before probing', async () => {
    const a = ok(1);
    const dup = await refusal(checkAddressedNodes([a, ok(2), { ...ok(3), address: a.address }], opts));
    expect(dup.message).toContain('is given twice');
    const few = await refusal(checkAddressedNodes([a, ok(2)], opts));
    expect(few.message).toContain('2 addresses given, but the cluster spec has 3 nodes');
    expect(a.calls).toBe(0);
  });
});

describe('init addresses', () => {
  it('come from --addr, else VAULTCTL_NODE_ADDRS, else none (the managed cluster)', () => {
    expect(initAddresses({ addr: ['https://a:8200'] }, { VAULTCTL_NODE_ADDRS: 'https://b:8200' })).toEqual([
      'https://a:8200',
    ]);
    expect(initAddresses({}, { VAULTCTL_NODE_ADDRS: 'https://b:8200,https://c:8200' })).toEqual([
      'https://b:8200,https://c:8200',
    ]);
    expect(initAddresses({}, {})).toBeUndefined();
    expect(addressTargets(['https://b:8200,https://c:8200/']).map((t) => t.address)).toEqual([
      'https://b:8200',
      'https://c:8200',
    ]);
  });
});

describe('a cluster of the state dir reached by address', () => {
  const spec = resolveSpec({ name: 'vctl-unit-ai' }).spec;
  const state = StateDir.forCluster('/nonexistent-vaultctl-unit', spec.name);
  const addrs = ['https://10.0.0.1:8200', 'https://10.0.0.2:8200/', 'https://10.0.0.3:8200'];
  const cluster = openCluster({
    spec,
    state,
    connect: () => {
      throw new Error('no connection in this test');
    },
    runtime: () => {
      throw new Error('no runtime in this test');
    },
    addresses: addrs,
  });

  it("keeps the spec's node names at the given addresses, without containers or an endpoint", () => {
    expect(cluster.nodes.map((n) => [n.name, n.address])).toEqual(
      spec.nodes.map((n, i) => [n.name, addrs[i]!.replace(/\/$/, '')]),
    );
    expect(cluster.nodes.every((n) => n.container === undefined)).toBe(true);
    expect(cluster.endpoint).toBeUndefined();
  });

  it('refuses a container operation with a usage error', async () => {
    const err = await cluster.nodes[0]!.kill('SIGKILL').then(
      () => new Error('resolved'),
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).message).toContain('known only by its address');
  });
});

describe('the step-down fault', () => {
  const drillBase = { target: 'leader', rate: '20', duration: '10s', healTimeout: '90s' };

  it('steps the victim down over the API and heals by doing nothing', async () => {
    const stepped: string[] = [];
    const victim = { name: 'vault-1' } as NodeHandle;
    const fault = makeFault('step-down', [victim], [victim], {
      progress: new RecordingProgress(),
      stepDown: async (v) => {
        stepped.push(v.name);
      },
    });
    await fault.inject();
    await fault.heal();
    expect(stepped).toEqual(['vault-1']);
  });

  it('is refused for a follower or every node', () => {
    const spec = resolveSpec({}).spec;
    for (const target of ['follower', 'all']) {
      const cfg = parseDrillOptions({ ...drillBase, fault: 'step-down', target } as never);
      expect(() => validateDrillConfig(cfg, spec)).toThrow(/only the leader does/);
    }
    const ok = parseDrillOptions({ ...drillBase, fault: 'step-down' } as never);
    expect(() => validateDrillConfig(ok, spec)).not.toThrow();
  });
});
