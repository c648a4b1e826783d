/**
 * The server side of the in-memory OpenBao fake (`fake-vault.ts` is its client side): one Raft
 * cluster's state and each node's own (sealed, unseal progress, a join under way), answering as
 * the real server does where vaultctl can tell: a sealed node 503, a bad token 403, init twice
 * 400. Time is the clock the tests inject, so elections, joins and autopilot promotions happen
 * while vaultctl polls. Error wording is close to the server's; vaultctl matches only a few words
 * ("not initialized", "join in progress").
 */
import { randomBytes } from 'node:crypto';
import { durationMs } from '../../src/bootstrap/bootstrap-context.js';
import { FakeBackends, HttpAnswer } from './fake-vault-backends.js';

export { HttpAnswer };

export interface FakeServerOptions {
  readonly nodes: readonly string[];
  /** 'shamir', or an auto-unseal seal ('static', 'awskms', 'transit'). */
  readonly seal: string;
  readonly flavor: 'openbao' | 'vault';
  /** The file audit device the HCL declares (OpenBao): listed from the start. */
  readonly declaredAuditFile?: string | undefined;
  readonly now: () => number;
  /** From unseal to active (an election). Default 1 s. */
  readonly electionMs?: number;
  /** From a raft join to the leader's challenge (auto-unseal: to unsealed). Default 0.5 s. */
  readonly joinMs?: number;
  /**
   * retry_join: an uninitialised node joins on its own this long after a leader appears (OpenBao
   * retries every 2 s). Off by default; `FakeVault.forSpec` turns it on, as the rendered HCL does.
   */
  readonly retryJoinMs?: number;
}

interface NodeState {
  readonly name: string;
  /** Holds the cluster's data: initialised it, or finished joining. */
  member: boolean;
  sealed: boolean;
  /** Unseal shares submitted so far (base64). */
  shares: string[];
  joinStartedAt?: number | undefined;
  /** An explicit join (sys/storage/raft/join) is under way. */
  explicitJoin?: boolean;
  /**
   * Joined and unsealed, but answers nothing: with retry_join beside an explicit join, a Shamir
   * node's unseal can wait for a retry_join that already ended, holding the node's state lock.
   */
  wedged?: boolean;
  unsealedAt?: number | undefined;
}

const DURATIONS = [
  'last_contact_threshold',
  'dead_server_last_contact_threshold',
  'server_stabilization_time',
];

/** Go's time.Duration String(), as the server prints durations: 600000 -> "10m0s". */
function goDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = (ms % 60_000) / 1000;
  return h ? `${h}h${m}m${s}s` : m ? `${m}m${s}s` : `${s}s`;
}

function decodeShare(key: string): string | undefined {
  if (/^([0-9a-f]{2})+$/i.test(key)) return Buffer.from(key, 'hex').toString('base64');
  if (/^[A-Za-z0-9+/]+={0,2}$/.test(key)) return Buffer.from(key, 'base64').toString('base64');
  return undefined;
}

export class FakeVaultServer {
  readonly nodes: Map<string, NodeState>;
  readonly auto: boolean;
  readonly backends: FakeBackends;
  initialized = false;
  shares = 0;
  threshold = 0;
  /** The unseal (Shamir) or recovery (auto-unseal) key shares, base64. */
  keys: string[] = [];
  rootToken: string | undefined;
  leader: string | undefined;
  leaderSince = 0;
  index = 0;
  readonly servers: { name: string; voter: boolean; since: number }[] = [];
  autopilot: Record<string, number | boolean> = {
    cleanup_dead_servers: false,
    last_contact_threshold: 10_000,
    dead_server_last_contact_threshold: 86_400_000,
    max_trailing_logs: 1000,
    min_quorum: 0,
    server_stabilization_time: 10_000,
  };

  constructor(readonly opts: FakeServerOptions) {
    this.nodes = new Map(opts.nodes.map((name) => [name, { name, member: false, sealed: true, shares: [] }]));
    this.auto = opts.seal !== 'shamir';
    this.backends = new FakeBackends(opts.flavor === 'vault');
    if (opts.declaredAuditFile)
      this.backends.audits['file/'] = { type: 'file', options: { file_path: opts.declaredAuditFile } };
  }

  node(name: string): NodeState {
    return this.nodes.get(name)!;
  }

  /** The node takes requests but never answers them (see `NodeState.wedged`). */
  wedged(name: string): boolean {
    return this.node(name).wedged === true;
  }

  /** Lets time act: elections, joins and auto-unseal completing, autopilot promoting voters. */
  tick(): void {
    const now = this.opts.now();
    for (const n of this.nodes.values()) {
      const retry = this.opts.retryJoinMs;
      if (retry !== undefined && this.leader && !n.member && n.joinStartedAt === undefined)
        if (now >= this.leaderSince + retry) n.joinStartedAt = now;
      if (this.auto && this.challengeReceived(n)) this.joined(n);
    }
    if (this.leader && this.node(this.leader).sealed) this.leader = undefined;
    if (!this.leader) {
      const voters = new Set(this.servers.filter((s) => s.voter).map((s) => s.name));
      const ready = [...this.nodes.values()].find(
        (n) =>
          voters.has(n.name) && !n.sealed && now >= (n.unsealedAt ?? now) + (this.opts.electionMs ?? 1000),
      );
      if (ready) [this.leader, this.leaderSince] = [ready.name, now];
    }
    const stable = this.autopilot.server_stabilization_time as number;
    for (const s of this.servers) if (this.leader && !s.voter && now >= s.since + stable) s.voter = true;
  }

  private joined(n: NodeState): void {
    Object.assign(n, {
      joinStartedAt: undefined,
      explicitJoin: undefined,
      member: true,
      sealed: false,
      shares: [],
    });
    n.unsealedAt = this.opts.now();
    if (!this.servers.some((s) => s.name === n.name))
      this.servers.push({ name: n.name, voter: false, since: this.opts.now() });
  }

  /** A node reports initialised once it holds the data, and while its raft join is under way. */
  private initializedOn(n: NodeState): boolean {
    return n.member || n.joinStartedAt !== undefined;
  }

  private challengeReceived(n: NodeState): boolean {
    return n.joinStartedAt !== undefined && this.opts.now() >= n.joinStartedAt + (this.opts.joinMs ?? 500);
  }

  sealStatus(name: string) {
    const n = this.node(name);
    const known = n.member || this.challengeReceived(n);
    return {
      type: this.opts.seal,
      initialized: this.initializedOn(n),
      sealed: n.sealed,
      t: known ? this.threshold : 0,
      n: known ? this.shares : 0,
      progress: n.shares.length,
      nonce: '',
      version: '2.7.2',
      migration: false,
      recovery_seal: this.auto,
      storage_type: 'raft',
    };
  }

  /** One request on a node; returns the JSON body (undefined for a 204). */
  handle(
    name: string,
    method: string,
    rawPath: string,
    body: Record<string, unknown>,
    token?: string,
  ): unknown {
    this.tick();
    const n = this.node(name);
    const path = rawPath.replace(/^\/+/, '').replace(/\?.*$/, '');
    const write = method !== 'GET';
    if (path === 'sys/seal-status') return this.sealStatus(name);
    if (path === 'sys/health') {
      const init = this.initializedOn(n);
      return { initialized: init, sealed: n.sealed, standby: !init || n.sealed || this.leader !== name };
    }
    if (path === 'sys/init' && write) return this.init(n, body);
    if (path === 'sys/unseal' && write) return this.unseal(n, String(body.key ?? ''));
    if (path === 'sys/storage/raft/join' && write) return this.join(n, String(body.leader_api_addr ?? ''));
    if (!n.member || n.sealed) throw new HttpAnswer(503, ['Vault is sealed']);
    if (path === 'sys/leader') {
      const at = (port: number) => (this.leader ? `https://${this.leader}:${port}` : '');
      const self = this.leader === name;
      return {
        ha_enabled: true,
        is_self: self,
        leader_address: at(8200),
        leader_cluster_address: at(8201),
        raft_committed_index: this.index,
        raft_applied_index: this.index,
      };
    }
    // A standby forwards to the active node; without one nothing is served.
    if (!this.leader) throw new HttpAnswer(500, ['local node not active but active cluster node not found']);
    if (path === 'auth/approle/login' && write) return this.backends.login(body);
    const caller = token ? this.backends.tokens.get(token) : undefined;
    if (!caller || !this.backends.allowed(caller, method, path))
      throw new HttpAnswer(403, ['permission denied']);
    if (write) this.index++;
    if (path === 'sys/storage/raft/configuration' && !write) {
      const servers = this.servers.map((s) => ({
        node_id: s.name,
        address: `${s.name}:8201`,
        leader: s.name === this.leader,
        voter: s.voter,
      }));
      return { data: { config: { index: this.index, servers } } };
    }
    if (path === 'sys/storage/raft/autopilot/state' && !write) return { data: this.autopilotState() };
    if (path === 'sys/storage/raft/autopilot/configuration') return this.autopilotConfig(write, body);
    return this.backends.route(method, path, body, caller);
  }

  private init(n: NodeState, body: Record<string, unknown>) {
    if (this.initialized || n.member) throw new HttpAnswer(400, ['Vault is already initialized']);
    const [kind, other] = this.auto ? ['recovery', 'secret'] : ['secret', 'recovery'];
    if (body[`${other}_shares`] !== undefined || body[`${other}_threshold`] !== undefined)
      throw new HttpAnswer(400, [
        `parameters ${other}_shares,${other}_threshold not applicable to seal type ${this.opts.seal}`,
      ]);
    const shares = Number(body[`${kind}_shares`] ?? 0);
    const threshold = Number(body[`${kind}_threshold`] ?? 0);
    if (!(shares >= 1 && threshold >= 1 && threshold <= shares))
      throw new HttpAnswer(400, ['invalid seal configuration: threshold must not exceed shares']);
    const pgp = body[this.auto ? 'recovery_pgp_keys' : 'pgp_keys'] as string[] | undefined;
    if (pgp && pgp.length !== shares) throw new HttpAnswer(400, ['incorrect number of PGP keys']);
    this.initialized = true;
    this.shares = shares;
    this.threshold = threshold;
    this.keys = Array.from({ length: shares }, () => randomBytes(33).toString('base64'));
    this.rootToken = this.backends.issue(['root'], { orphan: true }).id;
    this.backends.policies.set('root', '');
    n.member = true;
    this.servers.push({ name: n.name, voter: true, since: this.opts.now() });
    if (this.auto) this.joined(n);
    // PGP-encrypted shares are opaque to the caller (and unseal nothing).
    const out = pgp ? this.keys.map((k, i) => Buffer.from(`pgp:${i}:${k}`).toString('base64')) : this.keys;
    const hex = out.map((k) => Buffer.from(k, 'base64').toString('hex'));
    return this.auto
      ? {
          keys: [],
          keys_base64: [],
          recovery_keys: hex,
          recovery_keys_base64: out,
          root_token: this.rootToken,
        }
      : { keys: hex, keys_base64: out, root_token: this.rootToken };
  }

  private unseal(n: NodeState, key: string) {
    if (!this.initializedOn(n)) throw new HttpAnswer(400, ['Vault is not initialized']);
    if (!n.sealed) return this.sealStatus(n.name);
    if (this.auto) throw new HttpAnswer(400, [`unseal keys are not used with the ${this.opts.seal} seal`]);
    if (!n.member && !this.challengeReceived(n)) throw new HttpAnswer(400, ['raft join in progress']);
    const share = decodeShare(key);
    if (!share) throw new HttpAnswer(400, ["'key' must be a valid hex or base64 string"]);
    if (n.shares.includes(share))
      throw new HttpAnswer(400, ['given key has already been provided during this unseal']);
    n.shares.push(share);
    if (n.shares.length < this.threshold) return this.sealStatus(n.name);
    const good = n.shares.every((s) => this.keys.includes(s));
    n.shares = [];
    if (!good) throw new HttpAnswer(400, ['cipher: message authentication failed']);
    // OpenBao 2.7.2 on a Shamir node with both joins: the explicit join's challenge takes the keys,
    // retry_join fetches one of its own before the data is in, the next keys wait for a retry_join
    // that then ends ("returning from raft join as the node is initialized") without releasing
    // them. A race in the server; the fake always loses it.
    if (!n.member && n.explicitJoin && this.opts.retryJoinMs !== undefined) n.wedged = true;
    if (!n.member) this.joined(n);
    n.sealed = false;
    n.unsealedAt = this.opts.now();
    return this.sealStatus(n.name);
  }

  private join(n: NodeState, leaderAddr: string) {
    if (this.initializedOn(n)) throw new HttpAnswer(400, ["join can't be invoked on an initialized cluster"]);
    const host = /^https?:\/\/([^:/]+)/.exec(leaderAddr)?.[1];
    if (!host || host !== this.leader)
      throw new HttpAnswer(500, [`failed to join raft cluster via ${leaderAddr}`]);
    n.joinStartedAt = this.opts.now();
    n.explicitJoin = true;
    return { joined: true };
  }

  private autopilotConfig(write: boolean, body: Record<string, unknown>) {
    if (!write) {
      const shown = Object.entries(this.autopilot).map(([k, v]) => [
        k,
        DURATIONS.includes(k) ? goDuration(v as number) : v,
      ]);
      return { data: Object.fromEntries(shown) };
    }
    const want = { ...this.autopilot };
    for (const [k, v] of Object.entries(body))
      want[k] = DURATIONS.includes(k) ? durationMs(String(v)) : (v as number);
    if (want.cleanup_dead_servers && (want.min_quorum as number) < 3)
      throw new HttpAnswer(400, [
        'min_quorum must be set when cleanup_dead_servers is set and it should at least be 3',
      ]);
    this.autopilot = want;
    return undefined;
  }

  autopilotState() {
    const voters = this.servers.filter((s) => s.voter).map((s) => s.name);
    const servers = Object.fromEntries(
      this.servers.map((s) => {
        const status = s.name === this.leader ? 'leader' : s.voter ? 'voter' : 'non-voter';
        const healthy = !this.node(s.name).sealed;
        const id = { id: s.name, name: s.name, address: `${s.name}:8201`, node_status: 'alive' };
        return [s.name, { ...id, status, healthy, last_index: this.index, last_term: 2 }];
      }),
    );
    return {
      healthy: Object.values(servers).every((s) => s.healthy),
      failure_tolerance: Math.max(0, voters.length - (Math.floor(voters.length / 2) + 1)),
      leader: this.leader ?? '',
      voters,
      servers,
    };
  }

  /** The cluster as a comparable value: all a bootstrap sets, without random ids and tokens. */
  snapshot() {
    this.tick();
    const root = this.rootToken;
    return {
      initialized: this.initialized,
      seal: { type: this.opts.seal, shares: this.shares, threshold: this.threshold },
      leader: this.leader,
      nodes: [...this.nodes.values()].map((n) => ({ name: n.name, member: n.member, sealed: n.sealed })),
      // In join order on the server; the order is no part of the state compared.
      servers: this.servers
        .map((s) => ({ name: s.name, voter: s.voter }))
        .sort((a, b) => a.name.localeCompare(b.name)),
      autopilot: this.autopilot,
      ...this.backends.snapshot(),
      rootTokenValid: root !== undefined && this.backends.tokens.has(root),
    };
  }
}
