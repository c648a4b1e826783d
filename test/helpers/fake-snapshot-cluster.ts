/**
 * A `RunningCluster` for the snapshot restore's unit tests, built by `openCluster` like the real
 * one, with a fake connector and a fake runtime. Each node answers health, seal-status and leader
 * from an in-memory table the test edits; every other API call and every container operation is
 * recorded in `calls` (API calls also reject), so a test can assert that a refusal changed nothing.
 */
import { openCluster, type RunningCluster } from '../../src/cluster/running.js';
import type { ContainerRuntime } from '../../src/runtime/port.js';
import { containerName, nodeAddress } from '../../src/spec/names.js';
import type { ClusterSpec } from '../../src/spec/schema.js';
import type { StateDir } from '../../src/state/state-dir.js';
import { type VaultNode, type VaultNodeOptions, VaultRequestError } from '../../src/vault/port.js';

/** What one fake node answers. `up: false`: it does not answer at all. */
export interface FakeNodeRow {
  up: boolean;
  initialized: boolean;
  sealed: boolean;
  standby: boolean;
  sealType: string;
  clusterId: string;
}

export interface FakeSnapshotCluster {
  readonly cluster: RunningCluster;
  /** By node name; edit it before (or while) the code under test asks. */
  readonly rows: Record<string, FakeNodeRow>;
  /** "vault-1 init", "stop vault-2", ... in the order they happened. */
  readonly calls: string[];
}

export function fakeSnapshotCluster(opts: {
  readonly spec: ClusterSpec;
  readonly state: StateDir;
  /** Overrides per node name; default: an unsealed node, the first one active. */
  readonly rows?: Record<string, Partial<FakeNodeRow>>;
  /** The token `cluster.token()` resolves to (BAO_TOKEN's place); none when absent. */
  readonly token?: string;
}): FakeSnapshotCluster {
  const { spec, state } = opts;
  const calls: string[] = [];
  const rows: Record<string, FakeNodeRow> = {};
  for (const [i, n] of spec.nodes.entries()) {
    rows[n.name] = {
      up: true,
      initialized: true,
      sealed: false,
      standby: i > 0,
      sealType: spec.seal.type,
      clusterId: 'cluster-a',
      ...opts.rows?.[n.name],
    };
  }
  const byAddress = new Map(spec.nodes.map((n) => [nodeAddress(spec, n), n.name]));
  const byContainer = new Map(spec.nodes.map((n) => [containerName(spec, n), n.name]));

  const connect = ({ address }: VaultNodeOptions): VaultNode => {
    const name = byAddress.get(address) ?? address;
    const row = (what: string): FakeNodeRow => {
      const r = rows[name];
      if (!r?.up)
        throw new VaultRequestError(address, what, 'unreachable', { cause: { code: 'ECONNREFUSED' } });
      return r;
    };
    const recorded = (method: string) => async (): Promise<never> => {
      calls.push(`${name} ${method}`);
      throw new Error(`the fake ${name} does not answer ${method}`);
    };
    return {
      address,
      setToken() {},
      health: async () => {
        const r = row('reading health');
        return {
          initialized: r.initialized,
          sealed: r.sealed,
          standby: r.standby,
          ...(r.initialized ? { cluster_id: r.clusterId } : {}),
        };
      },
      sealStatus: async () => {
        const r = row('reading the seal status');
        return { type: r.sealType, initialized: r.initialized, sealed: r.sealed, t: 1, n: 1, progress: 0 };
      },
      leader: async () => {
        const r = row('reading the leader');
        return { ha_enabled: true, is_self: !r.standby, leader_address: address };
      },
      // Recorded with its method and path: a read-only GET (health's audit probe) tells itself apart.
      call: async (method: string, path: string): Promise<never> => recorded(`call ${method} ${path}`)(),
      init: recorded('init'),
      unseal: recorded('unseal'),
      raftJoin: recorded('raftJoin'),
      raftServers: recorded('raftServers'),
      autopilotState: recorded('autopilotState'),
      autopilotConfig: recorded('autopilotConfig'),
      setAutopilotConfig: recorded('setAutopilotConfig'),
      audits: recorded('audits'),
      enableAudit: recorded('enableAudit'),
      mounts: recorded('mounts'),
      mount: recorded('mount'),
      readPolicy: recorded('readPolicy'),
      writePolicy: recorded('writePolicy'),
      auths: recorded('auths'),
      enableAuth: recorded('enableAuth'),
      read: recorded('read'),
      write: recorded('write'),
      kvPut: recorded('kvPut'),
      kvGet: recorded('kvGet'),
    };
  };

  const containerOp = (verb: string) => async (container: string) => {
    const name = byContainer.get(container) ?? container;
    calls.push(`${verb} ${name}`);
    const r = rows[name];
    if (r) r.up = verb === 'start';
  };
  // Only what a restore asks of the runtime.
  const runtime: Pick<ContainerRuntime, 'stopContainer' | 'startContainer' | 'containerLogs'> = {
    stopContainer: containerOp('stop'),
    startContainer: containerOp('start'),
    containerLogs: async () => '',
  };

  const cluster = openCluster({
    spec,
    state,
    connect,
    runtime: () => runtime as ContainerRuntime,
    tokens: { envToken: opts.token },
  });
  return { cluster, rows, calls };
}
