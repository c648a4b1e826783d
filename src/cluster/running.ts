/**
 * `RunningCluster`: the one value for "the cluster that is running", built in one place
 * (`openCluster`). It holds the spec (when vaultctl manages the cluster), the state dir, the TLS
 * material and the credentials, and a `NodeHandle` per node: its name, address, container, an API
 * client, its log tail and the operations the runtime offers. Use cases take it instead of
 * rebuilding addresses, container names, API clients and tokens from the spec themselves.
 *
 * Two kinds: a `ManagedCluster` (spec, state dir, runtime, nodes with containers: what a use case
 * that touches containers takes) and an `AddressedCluster`, known only by addresses (`--addr`,
 * `BAO_ADDR`): its nodes have no container, and the runtime operations refuse with a usage error.
 * `RunningCluster` is what both offer; read-only use cases (health, drills' checks) take it.
 */
import { auditBlockedHint, auditDeviceCause, probeAuditPath } from '../audit/probe.js';
import { RemoteError, UsageError } from '../errors.js';
import type { ContainerRuntime, PartitionMethod } from '../runtime/port.js';
import {
  containerName,
  endpointAddress,
  endpointContainerName,
  endpointStandbyAddress,
  networkName,
  nodeAddress,
} from '../spec/names.js';
import type { ClusterSpec, NodeSpec } from '../spec/schema.js';
import type { StateDir } from '../state/state-dir.js';
import type { VaultConnector, VaultNode, VaultTls } from '../vault/port.js';
import { VaultRequestError } from '../vault/port.js';
import { type Clock, PollTimeoutError, pollUntil, systemClock } from './poll.js';

/** How the cluster's token is found; see `resolveClusterToken`. */
export interface TokenSources {
  /** BAO_TOKEN, then VAULT_TOKEN. */
  readonly envToken?: string | undefined;
  /** The stored admin AppRole credential: logs in on the first node that answers. */
  readonly adminLogin?: (() => Promise<string | undefined>) | undefined;
  /** The stored root token, unless it was revoked (read when needed: init writes it). */
  readonly rootToken?: (() => string | undefined) | undefined;
}

/**
 * The one token resolver: BAO_TOKEN/VAULT_TOKEN, else a login with the admin credential (after
 * `init --revoke-root`), else the stored root token. `root: false` stops before the root token
 * (for callers that hold it themselves, like bootstrap).
 */
export async function resolveClusterToken(
  sources: TokenSources,
  opts: { root?: boolean } = {},
): Promise<string | undefined> {
  if (sources.envToken) return sources.envToken;
  const admin = await sources.adminLogin?.().catch(() => undefined);
  if (admin) return admin;
  return opts.root === false ? undefined : sources.rootToken?.();
}

export interface NodeHandle {
  readonly name: string;
  /** Host-side API address, e.g. https://127.0.0.1:8200. */
  readonly address: string;
  /** The node's spec; absent for a cluster given by addresses. */
  readonly spec?: NodeSpec;
  /** The node's container; absent for a cluster given by addresses. */
  readonly container?: string;
  /**
   * An API client for this node. Without options: the shared client, which carries the token the
   * cluster resolved (`RunningCluster.useToken`). `token: undefined` gives an unauthenticated one.
   */
  api(opts?: { token?: string | undefined; timeoutMs?: number }): VaultNode;
  /** The last `tail` lines of the node's log ('' when it has no container or the runtime fails). */
  logs(tail?: number): Promise<string>;
  stop(timeoutSeconds?: number): Promise<void>;
  start(): Promise<void>;
  kill(signal?: string): Promise<void>;
  pause(): Promise<void>;
  unpause(): Promise<void>;
  restart(timeoutSeconds?: number): Promise<void>;
  /**
   * Cuts the node off from `peers` while it keeps running (`ContainerRuntime.partitionContainer`);
   * returns the method used.
   */
  partition(peers: readonly NodeHandle[], prefer?: PartitionMethod): Promise<PartitionMethod>;
  /** Undoes `partition`; safe to call twice. */
  heal(peers: readonly NodeHandle[], method: PartitionMethod): Promise<void>;
}

/** A node of a managed cluster: it has a spec and a container. */
export interface ManagedNode extends NodeHandle {
  readonly spec: NodeSpec;
  readonly container: string;
}

export interface WaitOptions {
  readonly timeoutMs: number;
  readonly intervalMs?: number;
  readonly signal?: AbortSignal | undefined;
  /** The node waited on: its last log lines are attached to the timeout error. */
  readonly node?: NodeHandle;
  /** "Error <doing>: ..." of the timeout error; default "waiting for <what>". */
  readonly doing?: string;
  readonly hint?: string;
}

/** The node `servingNode` chose. */
export interface ServingNode {
  readonly api: VaultNode;
  readonly node: NodeHandle;
  /** True only when no node answered active. */
  readonly standby: boolean;
  /** What was wrong with the nodes asked before it ("vault-2 unreachable"). */
  readonly problems: readonly string[];
}

export interface RunningCluster {
  /** The spec's name; absent for a cluster given by addresses. */
  readonly name?: string;
  readonly spec?: ClusterSpec;
  readonly state?: StateDir;
  readonly tls?: VaultTls;
  readonly nodes: readonly NodeHandle[];
  /** The active-node endpoint, when the spec has one (a cluster given by addresses has none). */
  readonly endpoint?: {
    readonly address: string;
    readonly standbyAddress?: string;
    readonly container: string;
  };
  /** The voters a healthy cluster has; absent when only addresses are known. */
  readonly expectedVoters?: number;
  readonly clock: Clock;
  /** The connector the handles use, for use cases that make their own clients (health checks). */
  readonly connector: VaultConnector;
  node(name: string): NodeHandle;
  /** A client for any address with this cluster's TLS material (e.g. a leader's redirect). */
  connect(address: string, opts?: { token?: string | undefined; timeoutMs?: number }): VaultNode;
  /** The cluster's token (memoised); `root: false` skips the stored root token. */
  token(opts?: { root?: boolean }): Promise<string | undefined>;
  /** Sets the token every node's shared client carries. */
  useToken(token: string | undefined): void;
  /**
   * The node that answers active (unsealed, not standby), if any answers so now. `timeoutMs`
   * bounds each node's answer (default: the shared clients' timeout), e.g. past a frozen node.
   */
  active(opts?: { timeoutMs?: number }): Promise<NodeHandle | undefined>;
  /** Nodes that answer unsealed standby now. */
  standbys(): Promise<NodeHandle[]>;
  /**
   * A client for requests that need a serving node: the active one, else an unsealed standby.
   * Throws a usage error without a token and a remote error when no node can serve.
   */
  serving(doing: string, token?: string): Promise<VaultNode>;
  /**
   * Like `serving`, and says which node it is and whether it is a standby: a standby is chosen only
   * when no node is active, so its data may miss acknowledged writes (a snapshot must know).
   */
  servingNode(doing: string, token?: string): Promise<ServingNode>;
  /** Waits through `pollUntil`; on timeout a RemoteError with the node's last log lines. */
  waitFor<T>(what: string, check: () => Promise<T | undefined>, opts: WaitOptions): Promise<T>;
}

/** The cluster vaultctl manages: spec, state dir, runtime, and nodes that run in containers. */
export interface ManagedCluster extends RunningCluster {
  readonly managed: true;
  readonly name: string;
  readonly spec: ClusterSpec;
  readonly state: StateDir;
  readonly expectedVoters: number;
  readonly nodes: readonly ManagedNode[];
  node(name: string): ManagedNode;
  /** The container runtime (made on first use). */
  runtime(): ContainerRuntime;
}

/** A cluster known only by the addresses of its nodes: no spec, no state dir, no containers. */
export interface AddressedCluster extends RunningCluster {
  readonly managed: false;
  readonly spec?: undefined;
  readonly state?: undefined;
}

interface CommonOptions {
  readonly tls?: VaultTls | undefined;
  readonly tokens?: TokenSources;
  readonly connect: VaultConnector;
  readonly clock?: Clock;
  /** Default API timeout of the shared clients. */
  readonly timeoutMs?: number;
}

export interface ManagedClusterOptions extends CommonOptions {
  readonly spec: ClusterSpec;
  readonly state: StateDir;
  /** The container runtime, made only when a node operation needs it. */
  readonly runtime: () => ContainerRuntime;
  /**
   * The nodes' addresses, in the spec's order, instead of those the spec publishes: a cluster
   * vaultctl did not start whose keys its state dir holds (`--addr` after `init --addr`). Its
   * nodes then have no container (runtime operations refuse) and the cluster has no endpoint.
   */
  readonly addresses?: readonly string[];
}

export interface AddressedClusterOptions extends CommonOptions {
  /** The nodes, by address (`--addr`). */
  readonly addresses: readonly { readonly name: string; readonly address: string }[];
}

export type OpenClusterOptions = ManagedClusterOptions | AddressedClusterOptions;

function unmanaged(node: string, op: string): never {
  throw new UsageError(
    `${op} ${node}`,
    'the node is known only by its address; vaultctl does not run its container',
    'run the command with the cluster vaultctl manages (--cluster, --state-dir), not --addr',
  );
}

/** Opens the cluster vaultctl manages. */
export function openCluster(opts: ManagedClusterOptions): ManagedCluster {
  return buildCluster(opts) as ManagedCluster;
}

/** Opens a cluster known only by the addresses of its nodes. */
export function openAddressedCluster(opts: AddressedClusterOptions): AddressedCluster {
  return buildCluster(opts) as AddressedCluster;
}

function buildCluster(opts: OpenClusterOptions): ManagedCluster | AddressedCluster {
  const { tls, connect } = opts;
  const spec = 'spec' in opts ? opts.spec : undefined;
  const addresses = !('spec' in opts) ? opts.addresses : undefined;
  const nodeAddrs = 'spec' in opts ? opts.addresses : undefined;
  const clock = opts.clock ?? systemClock;
  let runtime: ContainerRuntime | undefined;
  const rt = (): ContainerRuntime => {
    if (!('runtime' in opts))
      throw new UsageError(
        'reaching the container runtime',
        'no runtime configured',
        'pass a runtime to openCluster (the CLI passes the Docker runtime)',
      );
    runtime ??= opts.runtime();
    return runtime;
  };
  let token: string | undefined;
  const clients = new Map<string, VaultNode>();
  const client = (address: string): VaultNode => {
    let c = clients.get(address);
    if (!c) {
      c = connect({ address, tls, token, ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}) });
      clients.set(address, c);
    }
    return c;
  };

  const handle = (name: string, address: string, node?: NodeSpec): NodeHandle => {
    const container = spec && node && !nodeAddrs ? containerName(spec, node) : undefined;
    const op =
      <A extends unknown[]>(verb: string, f: (rt: ContainerRuntime, c: string, ...a: A) => Promise<void>) =>
      (...a: A): Promise<void> =>
        container ? f(rt(), container, ...a) : Promise.resolve().then(() => unmanaged(name, verb));
    return {
      name,
      address,
      ...(node ? { spec: node } : {}),
      ...(container ? { container } : {}),
      api: (o) =>
        o
          ? connect({
              address,
              tls,
              token: 'token' in o ? o.token : token,
              ...(o.timeoutMs ? { timeoutMs: o.timeoutMs } : {}),
            })
          : client(address),
      logs: async (tail = 20) =>
        container && 'runtime' in opts
          ? rt()
              .containerLogs(container, tail)
              .catch(() => '')
          : '',
      stop: op('stopping', (r, c, s?: number) => r.stopContainer(c, s)),
      start: op('starting', (r, c) => r.startContainer(c)),
      kill: op('killing', (r, c, sig?: string) => r.killContainer(c, sig)),
      pause: op('pausing', (r, c) => r.pauseContainer(c)),
      unpause: op('unpausing', (r, c) => r.unpauseContainer(c)),
      restart: op('restarting', async (r, c, s?: number) => {
        await r.stopContainer(c, s);
        await r.startContainer(c);
      }),
      partition: async (peers, prefer) => {
        if (!container || !spec) return unmanaged(name, 'partitioning');
        return rt().partitionContainer(container, peerContainers(peers), networkName(spec), prefer);
      },
      heal: async (peers, method) => {
        if (!container || !spec) return unmanaged(name, 'healing the partition of');
        await rt().healPartition(container, peerContainers(peers), networkName(spec), method);
      },
    };
  };
  const peerContainers = (peers: readonly NodeHandle[]) =>
    peers.map((p) => p.container ?? unmanaged(p.name, 'partitioning'));

  const endpointAt = spec ? endpointAddress(spec) : undefined;
  const standbyAt = spec ? endpointStandbyAddress(spec) : undefined;
  const endpoint =
    spec && endpointAt && !nodeAddrs
      ? {
          address: endpointAt,
          ...(standbyAt ? { standbyAddress: standbyAt } : {}),
          container: endpointContainerName(spec),
        }
      : undefined;
  const nodes: NodeHandle[] = addresses
    ? addresses.map((a) => handle(a.name, a.address.replace(/\/$/, '')))
    : spec
      ? spec.nodes.map((n, i) =>
          handle(n.name, nodeAddrs?.[i]?.replace(/\/$/, '') ?? nodeAddress(spec, n), n),
        )
      : [];

  const tokens = new Map<string, Promise<string | undefined>>();
  const roleOf = async (n: NodeHandle, timeoutMs?: number) => {
    try {
      const h = await (timeoutMs ? n.api({ timeoutMs }) : n.api()).health();
      return !h.initialized || h.sealed ? 'down' : h.standby ? 'standby' : 'active';
    } catch (err) {
      if (err instanceof VaultRequestError && err.kind === 'tls') throw err;
      return 'down';
    }
  };

  const common: RunningCluster = {
    ...(endpoint ? { endpoint } : {}),
    ...(tls ? { tls } : {}),
    nodes,
    clock,
    connector: connect,
    node(name) {
      const n = nodes.find((x) => x.name === name);
      if (!n)
        throw new UsageError(
          `finding node ${name}`,
          `the cluster has no node ${name}`,
          `its nodes are ${nodes.map((x) => x.name).join(', ')}`,
        );
      return n;
    },
    connect: (address, o = {}) =>
      connect({
        address,
        tls,
        token: 'token' in o ? o.token : token,
        ...(o.timeoutMs ? { timeoutMs: o.timeoutMs } : {}),
      }),
    token(o = {}) {
      const key = o.root === false ? 'noroot' : 'any';
      let p = tokens.get(key);
      if (!p) {
        p = resolveClusterToken(opts.tokens ?? {}, o);
        tokens.set(key, p);
      }
      return p;
    },
    useToken(t) {
      token = t;
      for (const c of clients.values()) c.setToken(t);
    },
    async active(o = {}) {
      const roles = await Promise.all(nodes.map((n) => roleOf(n, o.timeoutMs)));
      return nodes.find((_, i) => roles[i] === 'active');
    },
    async standbys() {
      const roles = await Promise.all(nodes.map((n) => roleOf(n)));
      return nodes.filter((_, i) => roles[i] === 'standby');
    },
    async serving(doing, t) {
      return (await common.servingNode(doing, t)).api;
    },
    async servingNode(doing, t) {
      const use = t ?? token ?? (await common.token());
      if (!use) {
        throw new UsageError(
          doing,
          'no token: the state dir holds no root token and BAO_TOKEN/VAULT_TOKEN is not set',
          'run `vaultctl init` first, or export a token',
        );
      }
      let standby: ServingNode | undefined;
      let auditBlocked: NodeHandle | undefined;
      const problems: string[] = [];
      for (const n of nodes) {
        const api = n.api({ token: use });
        try {
          const h = await api.health();
          if (!h.initialized || h.sealed) {
            problems.push(`${n.name} ${h.initialized ? 'sealed' : 'not initialised'}`);
            continue;
          }
          if (!h.standby) {
            // sys/health is not audited: an active node that cannot audit looks fine there and
            // answers 500 ("internal error") to everything else. Say so, with the device's error.
            if ((await probeAuditPath(n.api({ token: undefined }))) === 'failing') {
              auditBlocked = n;
              break;
            }
            return { api, node: n, standby: false, problems };
          }
          standby ??= { api, node: n, standby: true, problems };
        } catch (err) {
          if (err instanceof VaultRequestError && err.kind === 'tls') throw err;
          problems.push(`${n.name} unreachable`);
        }
      }
      if (auditBlocked) {
        const log = spec ? await auditBlocked.logs(60).catch(() => '') : '';
        throw new RemoteError(
          doing,
          `${auditBlocked.name} (active) answers HTTP 500 to every request: no audit device can write (${auditDeviceCause(log) ?? 'no audit device succeeded in logging the request'})`,
          auditBlockedHint(auditBlocked.name),
        );
      }
      if (standby) return standby;
      throw new RemoteError(
        doing,
        `no node can serve requests (${problems.join(', ')})`,
        '`vaultctl health` shows the cluster; `vaultctl up`, `vaultctl unseal`',
      );
    },
    async waitFor(what, check, o) {
      try {
        return await pollUntil(check, {
          what,
          timeoutMs: o.timeoutMs,
          intervalMs: o.intervalMs ?? 250,
          signal: o.signal,
          clock,
        });
      } catch (err) {
        if (!(err instanceof PollTimeoutError)) throw err;
        const logs = o.node ? await o.node.logs(20) : '';
        throw new RemoteError(
          o.doing ?? `waiting for ${what}`,
          logs ? `${err.message}\n--- last lines of ${o.node!.name} ---\n${logs.trimEnd()}` : err.message,
          o.hint ?? 'run `vaultctl health` to see every node',
          { cause: err },
        );
      }
    },
  };
  if (!('spec' in opts)) return Object.assign(common, { managed: false as const }) as AddressedCluster;
  const managedNodes = nodes as ManagedNode[];
  const findNode = common.node;
  return Object.assign(common, {
    managed: true as const,
    name: opts.spec.name,
    spec: opts.spec,
    state: opts.state,
    expectedVoters: opts.spec.nodes.length,
    nodes: managedNodes,
    node: (name: string) => findNode(name) as ManagedNode,
    runtime: rt,
  });
}
