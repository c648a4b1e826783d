/**
 * An in-memory OpenBao Raft cluster behind the `VaultNode` port, for unit tests of use cases:
 * `connect` gives a client per address, as `connectVaultNode` does, and every request goes to the
 * simulated server (`fake-vault-server.ts`). Failures are the `VaultRequestError`s the adapter
 * throws. Tests can make a node unreachable, or make the nth call of a method or path fail.
 */
import type { Clock } from '../../src/cluster/poll.js';
import { nodeAddress } from '../../src/spec/names.js';
import type { ClusterSpec } from '../../src/spec/schema.js';
import { nodePaths } from '../../src/templates/hcl.js';
import { VaultNodeApi } from '../../src/vault/api.js';
import type { VaultConnector, VaultNode } from '../../src/vault/port.js';
import { VaultRequestError } from '../../src/vault/port.js';
import { type FakeServerOptions, FakeVaultServer, HttpAnswer } from './fake-vault-server.js';

/** A clock whose time moves only when something sleeps; each sleep yields to other tasks. */
export class FakeClock implements Clock {
  t = 1_000_000;
  now(): number {
    return this.t;
  }
  async sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) throw signal.reason;
    this.t += ms;
    await new Promise((r) => setImmediate(r));
    if (signal?.aborted) throw signal.reason;
  }
}

/** One request as the fake saw it: the node, the port method, and "METHOD path". */
export interface CallRecord {
  readonly node: string;
  readonly method: string;
  readonly op: string;
}

export interface Fault {
  /** A port method ('init', 'raftJoin', 'call'...), a "METHOD path" ("PUT sys/unseal"), or a RegExp on the latter. */
  readonly on: string | RegExp;
  readonly node?: string;
  /** The nth matching call is the first to fail (1-based; default 1). */
  readonly nth?: number;
  /** How many matching calls fail from the nth on (default 1). */
  readonly times?: number;
  /** Default 'unreachable'. */
  readonly error?: 'unreachable' | 'timeout' | { status: number; errors?: string[] };
  /** The server acts, then the answer is lost. */
  readonly after?: boolean;
  /** From this call on the node is unreachable (it crashed, or the network dropped it). */
  readonly down?: boolean;
}

export class FakeVault {
  readonly server: FakeVaultServer;
  readonly calls: CallRecord[] = [];
  /** Called as each request arrives, before it is answered. */
  onCall?: (c: CallRecord) => void;
  private readonly byAddress: Map<string, string>;
  private readonly down = new Set<string>();
  private faults: (Fault & { seen: number; failed: number })[] = [];

  constructor(
    readonly clock: FakeClock,
    nodes: readonly { name: string; address: string }[],
    opts: Omit<FakeServerOptions, 'nodes' | 'now'>,
  ) {
    this.byAddress = new Map(nodes.map((n) => [n.address, n.name]));
    this.server = new FakeVaultServer({ ...opts, nodes: nodes.map((n) => n.name), now: () => clock.now() });
  }

  /** The cluster `vaultctl up` would start for this spec, its HCL's audit device included. */
  static forSpec(
    spec: ClusterSpec,
    opts: Partial<FakeServerOptions> = {},
    clock = new FakeClock(),
  ): FakeVault {
    const audit =
      spec.audit.enabled && spec.flavor === 'openbao'
        ? `${nodePaths(spec.flavor).logs}/${spec.audit.file}`
        : undefined;
    const nodes = spec.nodes.map((n) => ({ name: n.name, address: nodeAddress(spec, n) }));
    return new FakeVault(clock, nodes, {
      seal: spec.seal.type,
      flavor: spec.flavor,
      declaredAuditFile: audit,
      // The rendered HCL gives every node of a multi-node cluster a retry_join stanza.
      ...(nodes.length > 1 ? { retryJoinMs: 2000 } : {}),
      ...opts,
    });
  }

  readonly connect: VaultConnector = (o) =>
    namingCalls(new FakeVaultClient(this, o.address.replace(/\/$/, ''), o.token));

  fail(f: Fault): void {
    this.faults.push({ ...f, seen: 0, failed: 0 });
  }

  setReachable(node: string, reachable: boolean): void {
    if (reachable) this.down.delete(node);
    else this.down.add(node);
  }

  /** Every node reachable again, no fault left. */
  heal(): void {
    this.down.clear();
    this.faults = [];
  }

  /** Waits until no request arrives for a while: what an abandoned run left running has finished. */
  async settle(): Promise<void> {
    for (let quiet = 0; quiet < 20; ) {
      const n = this.calls.length;
      await new Promise((r) => setImmediate(r));
      quiet = this.calls.length === n ? quiet + 1 : 0;
    }
  }

  /** The fault this call triggers, if any; every matching fault counts the call. */
  private fault(c: CallRecord): Fault | undefined {
    let fired: Fault | undefined;
    for (const f of this.faults) {
      const hit =
        (f.node === undefined || f.node === c.node) &&
        (typeof f.on === 'string' ? f.on === c.method || f.on === c.op : f.on.test(c.op));
      if (!hit) continue;
      f.seen++;
      if (fired || f.seen < (f.nth ?? 1) || f.failed >= (f.times ?? 1)) continue;
      f.failed++;
      fired = f;
    }
    return fired;
  }

  async request(
    address: string,
    token: string | undefined,
    method: string,
    http: string,
    path: string,
    what: string,
    body: unknown,
  ): Promise<unknown> {
    const name = this.byAddress.get(address);
    const rec = {
      node: name ?? address,
      method,
      op: `${http} ${path.replace(/^\/+/, '').replace(/\?.*$/, '')}`,
    };
    this.calls.push(rec);
    this.onCall?.(rec);
    // A request is never answered in the same tick, as over a socket.
    await new Promise((r) => setImmediate(r));
    const lost = (f: Fault | undefined) => {
      if (name && f?.down) this.down.add(name);
      const e = f?.error ?? 'unreachable';
      if (typeof e === 'object') return new VaultRequestError(address, what, 'http', e);
      const code = e === 'timeout' ? 'ETIMEDOUT' : 'ECONNREFUSED';
      const cause = Object.assign(new Error(`connect ${code} ${address}`), { code });
      return new VaultRequestError(address, what, e, { cause });
    };
    if (!name || this.down.has(name)) throw lost(undefined);
    if (this.server.wedged(name)) throw lost({ on: rec.op, error: 'timeout' });
    const f = this.fault(rec);
    if (f && !f.after) throw lost(f);
    let res: unknown;
    try {
      res = this.server.handle(name, http, path, (body ?? {}) as Record<string, unknown>, token);
    } catch (err) {
      if (!(err instanceof HttpAnswer)) throw err;
      if (f) throw lost(f);
      throw new VaultRequestError(address, what, 'http', { status: err.status, errors: err.errors });
    }
    if (f) throw lost(f);
    // A copy, as if it came over the wire: callers cannot reach into the server's state.
    return res === undefined ? {} : structuredClone(res);
  }
}

/**
 * The client of one address: the adapter itself, with its transport replaced. Every port method
 * thus sends exactly the request `VaultNodeApi` sends (method, path, body) and unwraps the answer
 * as it does; only `call` differs, going to the fake instead of node-vault.
 */
class FakeVaultClient extends VaultNodeApi {
  private token: string | undefined;
  /** The port method being called, for faults; set just before it calls `call`, synchronously. */
  portMethod: string | undefined;

  constructor(
    private readonly vault: FakeVault,
    address: string,
    token: string | undefined,
  ) {
    super({ address, token });
    this.token = token;
  }

  override setToken(token: string | undefined): void {
    this.token = token;
  }

  override async call<T>(method: string, path: string, what: string, body?: unknown): Promise<T> {
    const port = this.portMethod ?? 'call';
    this.portMethod = undefined;
    return (await this.vault.request(this.address, this.token, port, method, path, what, body)) as T;
  }
}

/** Names each port method's request after the method, so that faults can say `on: 'init'`. */
function namingCalls(client: FakeVaultClient): VaultNode {
  return new Proxy(client, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== 'function' || prop === 'call' || prop === 'setToken' || typeof prop !== 'string')
        return v;
      return (...args: unknown[]) => {
        target.portMethod = prop;
        return v.apply(target, args);
      };
    },
  });
}
