/**
 * The Vault node port: what use cases need from one node's HTTP API, in vaultctl's own types.
 * `VaultNodeApi` (vault/api.ts, on node-vault) is the one adapter; use cases see only this port,
 * so another adapter or an in-memory fake can stand in. Failures are `VaultRequestError`s
 * whatever the adapter.
 */
import { RemoteError } from '../errors.js';

export interface HealthResponse {
  readonly initialized: boolean;
  readonly sealed: boolean;
  readonly standby: boolean;
  readonly performance_standby?: boolean;
  readonly version?: string;
  readonly cluster_name?: string;
  readonly cluster_id?: string;
  readonly server_time_utc?: number;
}

export interface SealStatus {
  readonly type: string;
  readonly initialized: boolean;
  readonly sealed: boolean;
  readonly t: number;
  readonly n: number;
  readonly progress: number;
  readonly version?: string;
  readonly recovery_seal?: boolean;
  readonly cluster_id?: string;
  /** True while the node's config has a disabled old seal and the migration is not done. */
  readonly migration?: boolean;
}

export interface LeaderResponse {
  readonly ha_enabled: boolean;
  readonly is_self: boolean;
  readonly leader_address: string;
  readonly leader_cluster_address?: string;
  readonly raft_committed_index?: number;
  readonly raft_applied_index?: number;
}

export interface InitRequest {
  secret_shares?: number;
  secret_threshold?: number;
  recovery_shares?: number;
  recovery_threshold?: number;
  pgp_keys?: string[];
  recovery_pgp_keys?: string[];
}

export interface InitResponse {
  readonly keys?: string[];
  readonly keys_base64?: string[];
  readonly recovery_keys?: string[];
  readonly recovery_keys_base64?: string[];
  readonly root_token: string;
}

export interface RaftServer {
  readonly node_id: string;
  readonly address: string;
  readonly leader: boolean;
  readonly voter: boolean;
}

export interface AutopilotServer {
  readonly id: string;
  readonly name: string;
  readonly address: string;
  readonly node_status: string;
  readonly status: string;
  readonly healthy: boolean;
  readonly last_index?: number;
  readonly last_term?: number;
  readonly version?: string;
}

export interface AutopilotState {
  readonly healthy: boolean;
  readonly failure_tolerance: number;
  readonly leader: string;
  readonly voters: string[];
  readonly servers: Record<string, AutopilotServer>;
}

export interface AutopilotConfig {
  cleanup_dead_servers: boolean;
  last_contact_threshold: string;
  dead_server_last_contact_threshold: string;
  max_trailing_logs?: number;
  min_quorum: number;
  server_stabilization_time: string;
}

export interface MountInfo {
  readonly type: string;
  readonly options?: Record<string, string> | null;
}

export type RequestFailure = 'unreachable' | 'timeout' | 'http' | 'tls';

/** What a TLS listener answers to a plain HTTP request. */
const PLAIN_TO_TLS = /HTTP request to an HTTPS server/i;

/** A request to a node failed. `status` is the HTTP status for `kind === 'http'`. */
export class VaultRequestError extends RemoteError {
  readonly kind: RequestFailure;
  readonly status: number | undefined;
  readonly errors: readonly string[];
  readonly address: string;
  /** Waiting will not help (an untrusted certificate): polling stops at once. */
  readonly fatal: boolean;
  /** The address is http:// but the node serves HTTPS: the user must change the address. */
  readonly plainHttpToTls: boolean;

  constructor(
    address: string,
    what: string,
    kind: RequestFailure,
    detail: { status?: number; errors?: string[]; cause?: unknown },
  ) {
    const errors = detail.errors ?? [];
    const code = (detail.cause as { code?: string })?.code ?? 'connection failed';
    const plainToTls = errors.some((e) => PLAIN_TO_TLS.test(e));
    const causes: Record<RequestFailure, string> = {
      http: plainToTls
        ? `the node serves HTTPS but was asked over plain HTTP (it answered "${errors.find((e) => PLAIN_TO_TLS.test(e))}")`
        : `HTTP ${detail.status ?? '(no status)'}${errors.length ? `: ${errors.join('; ')}` : ''}`,
      timeout: 'no answer in time',
      unreachable: `cannot connect (${code})`,
      tls: `TLS verification failed (${code})`,
    };
    const cause = causes[kind];
    let hint: string | undefined;
    if (plainToTls) {
      hint = `use an https:// address (${address.replace(/^http:/, 'https:')}); vaultctl verifies it against the state dir's CA, or BAO_CACERT/VAULT_CACERT`;
    } else if (kind === 'unreachable') {
      hint = 'is the node running? `vaultctl health` shows every node; `docker ps` shows the containers';
    } else if (kind === 'tls') {
      hint =
        "the node's certificate is not from the CA vaultctl trusts: use the state dir that holds tls/ca.pem (--state-dir), or set BAO_CACERT/VAULT_CACERT; an http:// address against a TLS node fails the same way";
    } else if (detail.status === 503) {
      hint = 'the node is sealed or still starting: `vaultctl unseal`, or wait and retry';
    } else if (detail.status === 500 && errors.some((e) => /^internal error$/i.test(e.trim()))) {
      // What OpenBao answers to every audited request when no audit device can log it.
      hint =
        'a node that answers "internal error" to every request usually has no audit device that can write (a full audit volume): `vaultctl health` names the device';
    } else if (detail.status === 403) {
      hint = 'the token lacks permission or has expired: check VAULT_TOKEN/BAO_TOKEN or the state dir';
    }
    super(`${what} on ${address}`, cause, hint, { cause: scrubCause(detail.cause) });
    this.kind = kind;
    this.status = detail.status;
    this.errors = errors;
    this.address = address;
    this.plainHttpToTls = plainToTls;
    this.fatal = kind === 'tls' || plainToTls;
  }
}

/** PEM text a client needs for TLS: the CA to verify nodes against, and a client certificate for mutual TLS. */
export interface VaultTls {
  readonly ca: string;
  readonly cert?: string;
  readonly key?: string;
}

export interface VaultNodeOptions {
  readonly address: string;
  readonly token?: string | undefined;
  readonly timeoutMs?: number;
  /** Verify the node against this CA (never skipped), and present a client certificate if given. */
  readonly tls?: VaultTls | undefined;
}

/** One node's API: the calls vaultctl makes, each with its typed result. */
export interface VaultNode {
  readonly address: string;
  setToken(token: string | undefined): void;
  /** Any request; `what` names it in errors ("reading x"). Maps every failure to VaultRequestError. */
  call<T>(method: string, path: string, what: string, body?: unknown, timeoutMs?: number): Promise<T>;
  health(): Promise<HealthResponse>;
  sealStatus(): Promise<SealStatus>;
  leader(): Promise<LeaderResponse>;
  init(req: InitRequest): Promise<InitResponse>;
  /** `migrate`: the share is part of a seal migration (the node's config has a disabled old seal). */
  unseal(key: string, opts?: { migrate?: boolean }): Promise<SealStatus>;
  raftJoin(leaderApiAddr: string, tls?: RaftJoinTls): Promise<{ joined: boolean }>;
  raftServers(): Promise<RaftServer[]>;
  autopilotState(): Promise<AutopilotState>;
  autopilotConfig(): Promise<AutopilotConfig>;
  setAutopilotConfig(cfg: Partial<AutopilotConfig>): Promise<void>;
  audits(): Promise<Record<string, { type: string; options?: Record<string, string> }>>;
  enableAudit(path: string, type: string, options: Record<string, string>): Promise<void>;
  mounts(): Promise<Record<string, MountInfo>>;
  mount(path: string, type: string, options: Record<string, string>): Promise<void>;
  readPolicy(name: string): Promise<string | undefined>;
  writePolicy(name: string, hcl: string): Promise<void>;
  auths(): Promise<Record<string, { type: string }>>;
  enableAuth(path: string, type: string): Promise<void>;
  read<T = unknown>(path: string, what?: string): Promise<T>;
  write<T = unknown>(path: string, body: unknown, what?: string): Promise<T>;
  kvPut(mount: string, path: string, data: Record<string, unknown>): Promise<{ version: number }>;
  kvGet(mount: string, path: string): Promise<{ data: Record<string, unknown>; version: number } | undefined>;
}

/** TLS material a node needs to join a leader over (mutual) TLS. */
export interface RaftJoinTls {
  readonly caPem: string;
  readonly serverName: string;
  readonly clientCertPem?: string;
  readonly clientKeyPem?: string;
}

/** Makes a `VaultNode` for an address: the one way use cases get API clients (fakes in tests). */
export type VaultConnector = (opts: VaultNodeOptions) => VaultNode;

/**
 * The HTTP client's error carries the request it failed on, headers included: the X-Vault-Token.
 * Node prints a whole `cause` chain for an error nobody formatted, so keep only what explains the
 * failure (message, code, stack), never the request or the response.
 */
export function scrubCause(cause: unknown): Error | undefined {
  if (cause === undefined || cause === null) return undefined;
  const src = cause as { message?: unknown; code?: unknown; stack?: unknown; name?: unknown };
  const out = new Error(typeof src.message === 'string' ? src.message : String(cause));
  if (typeof src.name === 'string') out.name = src.name;
  if (typeof src.code === 'string') (out as Error & { code?: string }).code = src.code;
  if (typeof src.stack === 'string') out.stack = src.stack;
  return out;
}
