import { describe, expect, it } from 'vitest';
import {
  BENCH_ROOT,
  removeCredentials,
  type SeedNode,
  seedCredentials,
  seedPlan,
} from '../../src/bench/seed.js';
import { describeError } from '../../src/cli.js';
import { CancelledError, LeftoverError, UsageError } from '../../src/errors.js';
import { VaultRequestError } from '../../src/vault/port.js';

const ADDR = 'https://127.0.0.1:1';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
/** The path the seed used to write to, where a real tenant's credential may live. */
const REAL = 'tenants/00000000-0000-4000-8000-000000000003/exchanges/kraken/readonly';

/** An in-memory KV v2 mount "secret" behind the one call seeding and cleanup make. */
class FakeKv implements SeedNode {
  readonly versions = new Map<string, number>();
  readonly calls: string[] = [];
  /** Paths whose delete fails. */
  failDelete = new Set<string>();
  /** Called before each write (a concurrent writer). */
  beforeWrite: (path: string) => void = () => {};

  async call<T>(method: string, path: string, what: string, body?: unknown): Promise<T> {
    const m = /^\/secret\/(data|metadata)\/(.*)$/.exec(path);
    if (!m) throw new Error(`unexpected path ${path}`);
    const [, kind, key] = m as unknown as [string, string, string];
    this.calls.push(`${method} ${kind}/${key}`);
    const fail = (status: number, errors: string[] = []) =>
      new VaultRequestError(ADDR, what, 'http', { status, errors });
    if (method === 'LIST') {
      const below = [...this.versions.keys()]
        .filter((k) => k.startsWith(key))
        .map((k) => k.slice(key.length).replace(/\/.*$/, '/'));
      if (below.length === 0) throw fail(404);
      return { data: { keys: [...new Set(below)] } } as T;
    }
    if (method === 'POST' && kind === 'data') {
      this.beforeWrite(key);
      const cas = (body as { options?: { cas?: number } }).options?.cas;
      const v = this.versions.get(key) ?? 0;
      if (cas !== undefined && cas !== v)
        throw fail(400, ['check-and-set parameter did not match the current version']);
      this.versions.set(key, v + 1);
      return { data: { version: v + 1 } } as T;
    }
    if (method === 'DELETE' && kind === 'metadata') {
      if (this.failDelete.has(key)) throw fail(503, ['Vault is sealed']);
      this.versions.delete(key);
      return {} as T;
    }
    throw new Error(`unexpected ${method} ${path}`);
  }
}

describe('seedPlan', () => {
  it("gives 6 paths per tenant with the seed's shape, under a prefix of the run's own", () => {
    const a = seedPlan(2);
    const b = seedPlan(2);
    expect(a.paths).toHaveLength(12);
    expect(new Set(a.paths).size).toBe(12);
    expect(a.prefix).toMatch(new RegExp(`^${BENCH_ROOT}/\\d{8}T\\d{6}Z-[0-9a-f]{8}$`));
    expect(b.prefix).not.toBe(a.prefix);
    const shape = /^(.+)\/tenants\/([^/]+)\/exchanges\/(binance|kraken|coinbase)\/(readonly|trading)$/;
    for (const p of a.paths) {
      const m = shape.exec(p);
      expect(m?.[1], p).toBe(a.prefix);
      expect(m?.[2]).toMatch(UUID);
    }
    expect(new Set(a.paths.map((p) => shape.exec(p)![2])).size).toBe(2);
    expect(seedPlan(1, { run: 'r1', tenant: () => '11111111-1111-4111-8111-111111111111' }).paths[0]).toBe(
      'vaultctl-bench/r1/tenants/11111111-1111-4111-8111-111111111111/exchanges/binance/readonly',
    );
  });
});

describe('seedCredentials and removeCredentials', () => {
  it('touch nothing they did not write: a tenant credential and another run stay as they were', async () => {
    const kv = new FakeKv();
    kv.versions.set(REAL, 2);
    kv.versions.set(`${BENCH_ROOT}/other-run/tenants/x/exchanges/binance/trading`, 1);
    const plan = seedPlan(3);
    const created = new Set<string>();
    await seedCredentials(kv, 'secret', plan, created);
    expect([...created].sort()).toEqual([...plan.paths].sort());
    expect(plan.paths.every((p) => kv.versions.get(p) === 1)).toBe(true);
    const res = await removeCredentials(async () => kv, 'secret', [...created]);
    expect(res).toEqual({ left: [] });
    expect([...kv.versions]).toEqual([
      [REAL, 2],
      [`${BENCH_ROOT}/other-run/tenants/x/exchanges/binance/trading`, 1],
    ]);
    expect(kv.calls.filter((c) => c.startsWith('DELETE') && !c.includes(plan.prefix))).toEqual([]);
  });

  it('refuses a prefix that holds anything, before writing', async () => {
    const kv = new FakeKv();
    const plan = seedPlan(1, { run: 'taken' });
    kv.versions.set(`${BENCH_ROOT}/taken/notes`, 4);
    const created = new Set<string>();
    const err = await seedCredentials(kv, 'secret', plan, created).catch((e) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect(err.message).toContain('secret/vaultctl-bench/taken/ already holds "notes"');
    expect(created.size).toBe(0);
    expect(kv.calls.filter((c) => !c.startsWith('LIST'))).toEqual([]);
    expect(kv.versions.get(`${BENCH_ROOT}/taken/notes`)).toBe(4);
  });

  it('a credential written by someone else meanwhile is refused, left alone, and not cleaned up', async () => {
    const kv = new FakeKv();
    const plan = seedPlan(1);
    const theirs = plan.paths[3]!;
    kv.beforeWrite = (p) => {
      if (p === theirs && !kv.versions.has(p)) kv.versions.set(p, 1);
    };
    const created = new Set<string>();
    const err = await seedCredentials(kv, 'secret', plan, created).catch((e) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect(err.message).toContain(`secret/${theirs} already exists`);
    expect(created.has(theirs)).toBe(false);
    await removeCredentials(async () => kv, 'secret', [...created]);
    expect([...kv.versions]).toEqual([[theirs, 1]]);
  });

  it('Ctrl-C between batches stops the seeding; what was sent is in `created`', async () => {
    const kv = new FakeKv();
    const ac = new AbortController();
    const plan = seedPlan(10); // 60 paths: 3 batches
    kv.beforeWrite = () => ac.abort();
    const created = new Set<string>();
    await expect(seedCredentials(kv, 'secret', plan, created, ac.signal)).rejects.toBeInstanceOf(
      CancelledError,
    );
    expect(created.size).toBe(20);
    expect([...kv.versions.keys()].sort()).toEqual([...created].sort());
  });

  it('cleanup retries what failed on the second node, and returns what is still left with the cause', async () => {
    const kv = new FakeKv();
    const plan = seedPlan(1);
    await seedCredentials(kv, 'secret', plan, new Set());
    kv.failDelete = new Set([plan.paths[1]!, plan.paths[4]!]);
    const picked: number[] = [];
    const res = await removeCredentials(
      async (pass) => {
        picked.push(pass);
        if (pass === 1) kv.failDelete = new Set([plan.paths[4]!]);
        return kv;
      },
      'secret',
      plan.paths,
    );
    expect(picked).toEqual([0, 1]);
    expect(res.left).toEqual([plan.paths[4]]);
    expect(res.cause).toBe(`removing secret/${plan.paths[4]} on ${ADDR}: HTTP 503: Vault is sealed`);
    const none = await removeCredentials(
      async (pass) => {
        if (pass === 1) throw new Error('no active node after 10 s');
        throw new VaultRequestError(ADDR, 'reading health', 'unreachable', {});
      },
      'secret',
      plan.paths.slice(0, 2),
    );
    expect(none.left).toEqual(plan.paths.slice(0, 2));
    expect(none.cause).toBe('cannot connect (connection failed); then no active node after 10 s');
  });
});

describe('LeftoverError', () => {
  const err = (afterReport: boolean) =>
    new LeftoverError(
      'removing the benchmark credentials',
      '2 of 6 could not be removed (HTTP 503)',
      ['secret/vaultctl-bench/r/a', 'secret/vaultctl-bench/r/b'],
      'remove them',
      { afterReport },
    );

  it('lists every path on stderr, exits 2, also after Ctrl-C (it does not claim a clean cancel)', () => {
    const d = describeError(err(false), true);
    expect(d.code).toBe(2);
    expect(d.text).toBe(
      'Error removing the benchmark credentials: 2 of 6 could not be removed (HTTP 503)\n' +
        '  - secret/vaultctl-bench/r/a\n  - secret/vaultctl-bench/r/b\nhint: remove them',
    );
    expect(d.payload).toMatchObject({
      exitCode: 2,
      leftover: ['secret/vaultctl-bench/r/a', 'secret/vaultctl-bench/r/b'],
    });
  });

  it('after the report it adds no JSON document to stdout', () => {
    const d = describeError(err(true), false);
    expect(d.code).toBe(2);
    expect(d.text).toContain('  - secret/vaultctl-bench/r/b');
    expect(d.payload).toBeUndefined();
  });
});
