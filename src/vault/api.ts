/**
 * The Vault/OpenBao HTTP API as vaultctl uses it, on node-vault. One `VaultNodeApi` talks to one
 * node's address. Results are typed; failures are `VaultRequestError`s that never carry request
 * bodies (which may hold keys or secret values).
 */
import nodeVault from 'node-vault';
import type {
  AutopilotConfig,
  AutopilotState,
  HealthResponse,
  InitRequest,
  InitResponse,
  LeaderResponse,
  MountInfo,
  RaftJoinTls,
  RaftServer,
  SealStatus,
  VaultConnector,
  VaultNode,
  VaultNodeOptions,
} from './port.js';
import { VaultRequestError } from './port.js';
import { silenceSecretLeakingDebug } from './quiet-debug.js';

silenceSecretLeakingDebug();

interface NodeVaultError extends Error {
  response?: { statusCode?: number; body?: { errors?: string[] } | string };
  code?: string;
}

export class VaultNodeApi implements VaultNode {
  readonly address: string;
  private readonly client: ReturnType<typeof nodeVault>;
  private readonly timeoutMs: number;

  constructor(opts: VaultNodeOptions) {
    this.address = opts.address.replace(/\/$/, '');
    this.timeoutMs = opts.timeoutMs ?? 5000;
    this.client = nodeVault({
      endpoint: this.address,
      token: opts.token,
      // node-vault's own debug output would print request bodies (keys, secrets): never enable it.
      debug: () => {},
      ...(opts.tls
        ? {
            requestOptions: {
              ca: opts.tls.ca,
              ...(opts.tls.cert ? { cert: opts.tls.cert, key: opts.tls.key } : {}),
              strictSSL: true,
              // One TLS handshake per connection, not per request: under load (a failover, a
              // busy 2-core host) handshakes cost more than the requests, and a client that
              // times out mid-handshake measures itself instead of the cluster. Idle sockets
              // close after 5 s (long before the server's idle timeout, so a reused socket is
              // not one the server is closing) and never keep the process alive.
              agentOptions: { keepAlive: true, timeout: 5_000 },
            },
          }
        : {}),
    } as nodeVault.VaultOptions);
  }

  setToken(token: string | undefined): void {
    this.client.token = token as string;
  }

  /** One request; maps every failure to VaultRequestError. */
  async call<T>(method: string, path: string, what: string, body?: unknown, timeoutMs?: number): Promise<T> {
    try {
      const res = await this.client.request({
        path,
        method,
        ...(body !== undefined ? { json: body } : {}),
        timeout: timeoutMs ?? this.timeoutMs,
      } as nodeVault.RequestOption);
      // Every answer of the API is a JSON object; text is not a Vault answer (node-vault passes
      // sys/health bodies through whatever the status, e.g. a TLS listener's plain-HTTP refusal).
      // An empty body (204) is no answer to check.
      if (typeof res === 'string' && res.trim()) {
        throw new VaultRequestError(this.address, what, 'http', { errors: [res.trim()] });
      }
      return (res || {}) as T;
    } catch (err) {
      if (err instanceof VaultRequestError) throw err;
      const e = err as NodeVaultError;
      if (e.response?.statusCode) {
        const body = e.response.body;
        const errors =
          typeof body === 'string'
            ? body.trim()
              ? [body.trim()]
              : []
            : Array.isArray(body?.errors)
              ? body.errors
              : [];
        throw new VaultRequestError(this.address, what, 'http', {
          status: e.response.statusCode,
          errors,
          cause: err,
        });
      }
      const timeout = e.code === 'ECONNABORTED' || e.code === 'ETIMEDOUT' || /timeout/i.test(e.message);
      const tls =
        /CERT|SSL|TLS|SELF_SIGNED|ERR_TLS/i.test(e.code ?? '') || /certificate|self.signed/i.test(e.message);
      throw new VaultRequestError(this.address, what, timeout ? 'timeout' : tls ? 'tls' : 'unreachable', {
        cause: err,
      });
    }
  }

  /** sys/health answers every state with a body; node-vault returns it whatever the status code. */
  health(): Promise<HealthResponse> {
    return this.call('GET', '/sys/health?standbyok=true&perfstandbyok=true', 'reading health');
  }

  sealStatus(): Promise<SealStatus> {
    return this.call('GET', '/sys/seal-status', 'reading seal status');
  }

  leader(): Promise<LeaderResponse> {
    return this.call('GET', '/sys/leader', 'reading leader status');
  }

  init(req: InitRequest): Promise<InitResponse> {
    return this.call('PUT', '/sys/init', 'initialising', req, 60_000);
  }

  unseal(key: string, opts: { migrate?: boolean } = {}): Promise<SealStatus> {
    const body = opts.migrate ? { key, migrate: true } : { key };
    return this.call('PUT', '/sys/unseal', 'submitting an unseal key', body, 30_000);
  }

  /**
   * Asks this node to join the leader. With mutual TLS the node needs a client certificate for the
   * leader: its own (`clientCertPem`/`clientKeyPem`), which it already holds on its own disk.
   */
  raftJoin(leaderApiAddr: string, tls?: RaftJoinTls): Promise<{ joined: boolean }> {
    const body = {
      leader_api_addr: leaderApiAddr,
      ...(tls ? { leader_ca_cert: tls.caPem, leader_tls_servername: tls.serverName } : {}),
      ...(tls?.clientCertPem && tls.clientKeyPem
        ? { leader_client_cert: tls.clientCertPem, leader_client_key: tls.clientKeyPem }
        : {}),
    };
    return this.call('PUT', '/sys/storage/raft/join', 'joining the raft cluster', body, 30_000);
  }

  async raftServers(): Promise<RaftServer[]> {
    const res = await this.call<{ data: { config: { servers: RaftServer[] } } }>(
      'GET',
      '/sys/storage/raft/configuration',
      'reading the raft configuration',
    );
    return res.data.config.servers;
  }

  async autopilotState(): Promise<AutopilotState> {
    const res = await this.call<{ data: AutopilotState }>(
      'GET',
      '/sys/storage/raft/autopilot/state',
      'reading autopilot state',
    );
    return res.data;
  }

  async autopilotConfig(): Promise<AutopilotConfig> {
    const res = await this.call<{ data: AutopilotConfig }>(
      'GET',
      '/sys/storage/raft/autopilot/configuration',
      'reading autopilot configuration',
    );
    return res.data;
  }

  async setAutopilotConfig(cfg: Partial<AutopilotConfig>): Promise<void> {
    await this.call('POST', '/sys/storage/raft/autopilot/configuration', 'configuring autopilot', cfg);
  }

  async audits(): Promise<Record<string, { type: string; options?: Record<string, string> }>> {
    const res = await this.call<Record<string, unknown> & { data?: Record<string, unknown> }>(
      'GET',
      '/sys/audit',
      'listing audit devices',
    );
    return (res.data ?? res) as Record<string, { type: string }>;
  }

  async enableAudit(path: string, type: string, options: Record<string, string>): Promise<void> {
    await this.call('PUT', `/sys/audit/${path}`, `enabling audit device ${path}`, { type, options });
  }

  async mounts(): Promise<Record<string, MountInfo>> {
    const res = await this.call<{ data?: Record<string, MountInfo> }>(
      'GET',
      '/sys/mounts',
      'listing secrets engines',
    );
    return res.data ?? (res as Record<string, MountInfo>);
  }

  async mount(path: string, type: string, options: Record<string, string>): Promise<void> {
    await this.call('POST', `/sys/mounts/${path}`, `mounting ${type} at ${path}/`, { type, options });
  }

  async readPolicy(name: string): Promise<string | undefined> {
    try {
      const res = await this.call<{ data?: { policy?: string } }>(
        'GET',
        `/sys/policies/acl/${name}`,
        `reading policy ${name}`,
      );
      return res.data?.policy;
    } catch (err) {
      if (err instanceof VaultRequestError && err.status === 404) return undefined;
      throw err;
    }
  }

  async writePolicy(name: string, hcl: string): Promise<void> {
    await this.call('PUT', `/sys/policies/acl/${name}`, `writing policy ${name}`, { policy: hcl });
  }

  async auths(): Promise<Record<string, { type: string }>> {
    const res = await this.call<{ data?: Record<string, { type: string }> }>(
      'GET',
      '/sys/auth',
      'listing auth methods',
    );
    return res.data ?? (res as Record<string, { type: string }>);
  }

  async enableAuth(path: string, type: string): Promise<void> {
    await this.call('POST', `/sys/auth/${path}`, `enabling auth method ${type}`, { type });
  }

  read<T = unknown>(path: string, what = `reading ${path}`): Promise<T> {
    return this.call('GET', `/${path}`, what);
  }

  write<T = unknown>(path: string, body: unknown, what = `writing ${path}`): Promise<T> {
    return this.call('POST', `/${path}`, what, body);
  }

  async kvPut(mount: string, path: string, data: Record<string, unknown>): Promise<{ version: number }> {
    const res = await this.call<{ data: { version: number } }>(
      'POST',
      `/${mount}/data/${path}`,
      `writing secret ${mount}/${path}`,
      { data },
    );
    return res.data;
  }

  async kvGet(
    mount: string,
    path: string,
  ): Promise<{ data: Record<string, unknown>; version: number } | undefined> {
    try {
      const res = await this.call<{ data: { data: Record<string, unknown>; metadata: { version: number } } }>(
        'GET',
        `/${mount}/data/${path}`,
        `reading secret ${mount}/${path}`,
      );
      return { data: res.data.data, version: res.data.metadata.version };
    } catch (err) {
      if (err instanceof VaultRequestError && err.status === 404) return undefined;
      throw err;
    }
  }
}

/** The production connector: node-vault over HTTP(S). The only place a `VaultNodeApi` is made. */
export const connectVaultNode: VaultConnector = (opts) => new VaultNodeApi(opts);
