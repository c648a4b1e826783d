/**
 * VaultClient: what an application uses to read and write tenant exchange credentials in a
 * vaultctl cluster (or any OpenBao/Vault with KV v2).
 *
 * - HA: several node addresses; on connection errors, timeouts, 5xx and sealed nodes it moves to
 *   the next address, sticks to a node that works, and retries a failed node after a cooldown.
 *   Bounded: at most `maxAttempts` tries per call, with capped exponential backoff and jitter.
 * - Auth: a token, or AppRole (role_id/secret_id): logs in, renews before expiry, and logs in again
 *   on a 403.
 * - Cache (lru-cache): 5 minutes, 1000 entries, invalidated on this client's writes and deletes;
 *   optional stale-if-error serves the last value, marked stale, while no node answers.
 * - Optional shared tier (`cache.shared`, shared-cache.ts): one Redis for every instance of the
 *   application, values sealed with AES-256-GCM, single-flight cold reads, invalidation of every
 *   instance's in-memory copy on a write; Redis trouble never reaches the caller.
 *
 * KV v2 reads and writes (the hot operations) go through transport.ts, a lean request on Node's
 * own HTTP client; AppRole login, health, list and delete through node-vault's generic `request`.
 * Both keep one keep-alive connection pool per node.
 */
import { readFileSync } from 'node:fs';
import nodeVault from 'node-vault';
import { silenceSecretLeakingDebug } from '../vault/quiet-debug.js';
import { classify } from './classify.js';
import type { CredentialType, ExchangeCredential } from './credential-path.js';
import { credentialPath } from './credential-path.js';
import type { CacheEntry } from './envelope.js';
import { VaultInvalidInputError, VaultRequestRejectedError, VaultUnavailableError } from './errors.js';
import { LocalCache } from './local-cache.js';
import type { SharedCacheOptions, SharedCacheStats } from './shared-cache.js';
import { SharedCache } from './shared-cache.js';
import { NodeTransport } from './transport.js';

export type { CredentialType, ExchangeCredential } from './credential-path.js';
export { credentialPath } from './credential-path.js';
export {
  VaultClientError,
  VaultForbiddenError,
  VaultInvalidInputError,
  VaultRequestRejectedError,
  VaultUnavailableError,
} from './errors.js';

export type { SharedCacheOptions, SharedCacheStats } from './shared-cache.js';

silenceSecretLeakingDebug();

export interface VaultClientOptions {
  /** Node addresses; default BAO_ADDR or VAULT_ADDR (comma-separated lists allowed). */
  readonly addresses?: readonly string[];
  /** A token; default BAO_TOKEN or VAULT_TOKEN (unless appRole is given). */
  readonly token?: string;
  readonly appRole?: { readonly roleId: string; readonly secretId: string; readonly mount?: string };
  /** KV v2 mount (default "secret"). */
  readonly kvMount?: string;
  /** Per-request timeout (default 2000 ms). */
  readonly timeoutMs?: number;
  /** Tries per call across nodes (default 2 x the number of addresses, at least 3). */
  readonly maxAttempts?: number;
  /** First backoff between tries (default 25 ms; doubles, capped at 1 s, with jitter). */
  readonly backoffMs?: number;
  /** How long a failed node is skipped before it is tried again (default 15 s). */
  readonly nodeCooldownMs?: number;
  /** CA for TLS (PEM text or a file path); default BAO_CACERT/VAULT_CACERT. Never skipped. */
  readonly ca?: string;
  /** Client certificate and key (PEM text or paths) for mutual TLS. */
  readonly clientCert?: { readonly cert: string; readonly key: string };
  readonly cache?: {
    readonly enabled?: boolean;
    readonly ttlMs?: number;
    readonly max?: number;
    readonly staleIfError?: boolean;
    /** The second tier: a Redis shared by the application's instances (off unless given). */
    readonly shared?: SharedCacheOptions;
  };
  readonly env?: NodeJS.ProcessEnv;
}

export interface ReadResult<T> {
  readonly data: T;
  readonly version: number;
  /** True when served from the cache after every node failed (stale-if-error). */
  readonly stale: boolean;
  readonly fromCache: boolean;
  /** Where the value came from: this client's memory, the shared tier, or a node. */
  readonly tier: 'memory' | 'shared' | 'vault';
}

export interface ClientStats {
  readonly cacheHits: number;
  readonly cacheMisses: number;
  readonly staleServed: number;
  readonly failovers: number;
  readonly logins: number;
  /** Reads sent to a node (each logical read once, whatever its retries). */
  readonly vaultReads: number;
  readonly currentAddress: string;
  /** The shared tier's counters, when it is configured. */
  readonly shared?: SharedCacheStats;
}

function pem(value: string | undefined): string | undefined {
  if (!value) return undefined;
  return value.includes('-----BEGIN') ? value : readFileSync(value, 'utf8');
}

interface Node {
  readonly address: string;
  readonly api: ReturnType<typeof nodeVault>;
  /** The lean path for KV v2 reads and writes. */
  readonly http: NodeTransport;
  downUntil: number;
}

export class VaultClient {
  private readonly nodes: Node[];
  private current = 0;
  private token: string | undefined;
  private tokenExpiresAt = Number.POSITIVE_INFINITY;
  private readonly opts: VaultClientOptions;
  private readonly kv: string;
  private readonly cache: LocalCache | undefined;
  private readonly shared: SharedCache | undefined;
  private readonly staleIfError: boolean;
  private stats_ = { cacheHits: 0, cacheMisses: 0, staleServed: 0, failovers: 0, logins: 0, vaultReads: 0 };
  private loginInFlight: Promise<void> | undefined;

  constructor(opts: VaultClientOptions = {}) {
    const env = opts.env ?? process.env;
    const addresses = (opts.addresses ?? (env.BAO_ADDR || env.VAULT_ADDR || '').split(','))
      .map((a) => a.trim().replace(/\/$/, ''))
      .filter(Boolean);
    if (addresses.length === 0)
      throw new VaultInvalidInputError('no node address: pass addresses or set BAO_ADDR/VAULT_ADDR');
    this.opts = opts;
    this.kv = opts.kvMount ?? 'secret';
    this.token = opts.appRole ? undefined : (opts.token ?? (env.BAO_TOKEN || env.VAULT_TOKEN));
    if (!this.token && !opts.appRole)
      throw new VaultInvalidInputError(
        'no credentials: pass a token or appRole, or set BAO_TOKEN/VAULT_TOKEN',
      );
    const ca = pem(opts.ca ?? (env.BAO_CACERT || env.VAULT_CACERT));
    const cert = pem(opts.clientCert?.cert ?? (env.BAO_CLIENT_CERT || env.VAULT_CLIENT_CERT));
    const key = pem(opts.clientCert?.key ?? (env.BAO_CLIENT_KEY || env.VAULT_CLIENT_KEY));
    this.nodes = addresses.map((address) => ({
      address,
      downUntil: 0,
      http: new NodeTransport(address, { ca, cert, key }),
      api: nodeVault({
        endpoint: address,
        // Request bodies hold secret values: node-vault's own debug output stays off.
        debug: () => {},
        requestOptions: {
          ...(ca ? { ca } : {}),
          ...(cert && key ? { cert, key } : {}),
          // One keep-alive connection pool per node: no TLS handshake per request.
          agentOptions: { keepAlive: true, maxSockets: 64 },
        },
      } as nodeVault.VaultOptions),
    }));
    const c = opts.cache ?? {};
    this.staleIfError = c.staleIfError ?? false;
    this.cache =
      c.enabled === false ? undefined : new LocalCache({ max: c.max ?? 1000, ttlMs: c.ttlMs ?? 300_000 });
    this.shared = c.shared
      ? new SharedCache(
          c.shared,
          this.kv,
          (path) => this.cache?.delete(this.key(path)),
          () => this.cache?.clear(),
        )
      : undefined;
  }

  get currentAddress(): string {
    return this.nodes[this.current]!.address;
  }

  stats(): ClientStats {
    return {
      ...this.stats_,
      currentAddress: this.currentAddress,
      ...(this.shared ? { shared: this.shared.stats() } : {}),
    };
  }

  /** The node to use now: the current one unless it is cooling down, else the next that is not. */
  private pick(now: number): Node {
    for (let i = 0; i < this.nodes.length; i++) {
      const idx = (this.current + i) % this.nodes.length;
      if (this.nodes[idx]!.downUntil <= now) {
        if (idx !== this.current) this.stats_.failovers += 1;
        this.current = idx;
        return this.nodes[idx]!;
      }
    }
    // Every node is cooling down: try them anyway, in turn (the loop is bounded by maxAttempts).
    this.current = (this.current + 1) % this.nodes.length;
    return this.nodes[this.current]!;
  }

  private async login(): Promise<void> {
    const ar = this.opts.appRole;
    if (!ar) return;
    this.loginInFlight ??= (async () => {
      const res = (await this.raw(
        'POST',
        `/auth/${ar.mount ?? 'approle'}/login`,
        { role_id: ar.roleId, secret_id: ar.secretId },
        false,
      )) as {
        auth: { client_token: string; lease_duration: number };
      };
      this.token = res.auth.client_token;
      this.stats_.logins += 1;
      // Log in again at 80 % of the lease rather than renew: AppRole tokens have a max TTL anyway.
      this.tokenExpiresAt =
        res.auth.lease_duration > 0 ? Date.now() + res.auth.lease_duration * 800 : Number.POSITIVE_INFINITY;
    })().finally(() => {
      this.loginInFlight = undefined;
    });
    await this.loginInFlight;
  }

  /**
   * One logical request with failover and bounded retries; `lean` sends it on the node's
   * NodeTransport (KV v2 read and write), otherwise through node-vault.
   */
  private async raw(
    method: string,
    path: string,
    body: unknown,
    authenticated = true,
    lean = false,
  ): Promise<unknown> {
    if (authenticated && this.opts.appRole && (!this.token || Date.now() >= this.tokenExpiresAt))
      await this.login();
    const maxAttempts = this.opts.maxAttempts ?? Math.max(3, this.nodes.length * 2);
    const base = this.opts.backoffMs ?? 25;
    let relogged = false;
    let last: Error | undefined;
    for (let attempt = 0; attempt < maxAttempts; attempt++) {
      const node = this.pick(Date.now());
      try {
        if (lean)
          return await node.http.request(
            method,
            path,
            body,
            authenticated ? this.token : undefined,
            this.opts.timeoutMs ?? 2000,
          );
        node.api.token = (authenticated ? this.token : undefined) as string;
        return await node.api.request({
          path,
          method,
          ...(body !== undefined ? { json: body } : {}),
          timeout: this.opts.timeoutMs ?? 2000,
        } as nodeVault.RequestOption);
      } catch (err) {
        const f = classify(err);
        if (f.kind === 'fatal') throw f.error;
        if (f.kind === 'forbidden') {
          // An expired AppRole token answers 403: log in once more, then it is a real denial.
          if (authenticated && this.opts.appRole && !relogged) {
            relogged = true;
            this.token = undefined;
            await this.login();
            attempt -= 1;
            continue;
          }
          throw f.error;
        }
        last = f.error;
        node.downUntil = Date.now() + (this.opts.nodeCooldownMs ?? 15_000);
        if (attempt + 1 < maxAttempts) {
          const delay = Math.min(1000, base * 2 ** attempt);
          await new Promise((r) => setTimeout(r, delay / 2 + Math.random() * (delay / 2)));
        }
      }
    }
    throw new VaultUnavailableError(
      `no node answered after ${maxAttempts} attempts (${last?.message ?? 'unknown'})`,
      { cause: last },
    );
  }

  private key(path: string): string {
    return `vault:${this.kv}:${path}`;
  }

  /** One read from a node; null when the secret is absent. */
  private async readFromVault(path: string): Promise<CacheEntry | null> {
    this.stats_.vaultReads += 1;
    try {
      const res = (await this.raw('GET', `/${this.kv}/data/${path}`, undefined, true, true)) as {
        data: { data: Record<string, unknown>; metadata: { version: number } };
      };
      return { data: res.data.data, version: res.data.metadata.version };
    } catch (err) {
      if (err instanceof VaultRequestRejectedError && err.status === 404) return null;
      throw err;
    }
  }

  /** Reads a KV v2 secret with its version; null when absent. */
  async readSecretWithMeta<T extends Record<string, unknown> = Record<string, unknown>>(
    path: string,
  ): Promise<ReadResult<T> | null> {
    const key = this.key(path);
    const cached = this.cache?.get(key);
    if (cached) {
      this.stats_.cacheHits += 1;
      return {
        data: cached.data as T,
        version: cached.version,
        stale: false,
        fromCache: true,
        tier: 'memory',
      };
    }
    if (this.cache) this.stats_.cacheMisses += 1;
    const mark = this.cache?.mark() ?? 0;
    try {
      const got = this.shared
        ? await this.shared.read(path, () => this.readFromVault(path))
        : { entry: await this.readFromVault(path), from: 'cluster' as const };
      if (!got.entry) return null;
      this.cache?.set(key, got.entry, mark);
      const shared = got.from === 'shared';
      return {
        ...(got.entry as ReadResult<T>),
        stale: false,
        fromCache: shared,
        tier: shared ? 'shared' : 'vault',
      };
    } catch (err) {
      if (err instanceof VaultUnavailableError && this.staleIfError) {
        const stale = this.cache?.getStale(key);
        if (stale) {
          this.stats_.staleServed += 1;
          return {
            data: stale.data as T,
            version: stale.version,
            stale: true,
            fromCache: true,
            tier: 'memory',
          };
        }
      }
      throw err;
    }
  }

  /** Reads a KV v2 secret; null when absent. */
  async readSecret<T extends Record<string, unknown> = Record<string, unknown>>(
    path: string,
  ): Promise<T | null> {
    return (await this.readSecretWithMeta<T>(path))?.data ?? null;
  }

  async writeSecret(path: string, data: Record<string, unknown>): Promise<{ version: number }> {
    this.cache?.delete(this.key(path));
    const res = (await this.raw('POST', `/${this.kv}/data/${path}`, { data }, true, true)) as {
      data: { version: number };
    };
    this.cache?.delete(this.key(path));
    await this.shared?.invalidate(path, { data, version: res.data.version });
    return { version: res.data.version };
  }

  /** Deletes the secret's metadata and every version. */
  async deleteSecret(path: string): Promise<void> {
    this.cache?.delete(this.key(path));
    await this.raw('DELETE', `/${this.kv}/metadata/${path}`, undefined);
    this.cache?.delete(this.key(path));
    await this.shared?.invalidate(path);
  }

  /** Keys under a prefix (folders end with "/"); empty when none. */
  async listSecrets(prefix: string): Promise<string[]> {
    try {
      const res = (await this.raw(
        'LIST',
        `/${this.kv}/metadata/${prefix.replace(/\/?$/, '/')}`,
        undefined,
      )) as { data: { keys: string[] } };
      return res.data.keys;
    } catch (err) {
      if (err instanceof VaultRequestRejectedError && err.status === 404) return [];
      throw err;
    }
  }

  /** The node's health (sys/health answers every state; not an error when sealed or standby). */
  async healthCheck(): Promise<{
    address: string;
    initialized: boolean;
    sealed: boolean;
    standby: boolean;
    version?: string;
  }> {
    const res = (await this.raw(
      'GET',
      '/sys/health?standbyok=true&perfstandbyok=true',
      undefined,
      false,
    )) as {
      initialized: boolean;
      sealed: boolean;
      standby: boolean;
      version?: string;
    };
    return {
      address: this.currentAddress,
      initialized: res.initialized,
      sealed: res.sealed,
      standby: res.standby,
      ...(res.version ? { version: res.version } : {}),
    };
  }

  credentialPath(tenantId: string, exchange: string, type: CredentialType): string {
    return credentialPath(tenantId, exchange, type);
  }

  async getCredential(
    tenantId: string,
    exchange: string,
    type: CredentialType,
  ): Promise<ExchangeCredential | null> {
    return this.readSecret<ExchangeCredential & Record<string, unknown>>(
      credentialPath(tenantId, exchange, type),
    );
  }

  async putCredential(
    tenantId: string,
    exchange: string,
    type: CredentialType,
    cred: { api_key: string; secret: string; passphrase?: string },
    createdBy?: string,
  ): Promise<{ version: number }> {
    const path = credentialPath(tenantId, exchange, type);
    if (!cred.api_key || !cred.secret) throw new VaultInvalidInputError('api_key and secret are required');
    return this.writeSecret(path, {
      api_key: cred.api_key,
      secret: cred.secret,
      ...(cred.passphrase ? { passphrase: cred.passphrase } : {}),
      metadata: {
        exchange,
        credential_type: type,
        created_at: new Date().toISOString(),
        ...(createdBy ? { created_by: createdBy } : {}),
      },
    });
  }

  /** Drops every value cached in this client's memory (the shared tier is left as it is). */
  clearCache(): void {
    this.cache?.clear();
  }

  /**
   * Closes the shared tier's Redis connections (a process with one open does not exit) and the
   * lean path's pooled connections.
   */
  async close(): Promise<void> {
    for (const n of this.nodes) n.http.close();
    await this.shared?.close();
  }
}
