/**
 * The replicated, logical side of the OpenBao fake: tokens, secrets engines, audit devices,
 * policies, auth methods (token, AppRole) and KV v2. Reached through `FakeVaultServer.handle`
 * once a request passed the seal and token checks. Answers carry the real server's status codes.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { durationMs } from '../../src/bootstrap/bootstrap-context.js';
import type { MountInfo } from '../../src/vault/port.js';

/** An HTTP error answer: the client turns it into a `VaultRequestError` of kind 'http'. */
export class HttpAnswer extends Error {
  constructor(
    readonly status: number,
    readonly errors: string[] = [],
  ) {
    super(`HTTP ${status}: ${errors.join('; ')}`);
  }
}

export interface Token {
  readonly id: string;
  readonly policies: string[];
  readonly role?: string;
  readonly orphan: boolean;
}

interface AppRole {
  readonly roleId: string;
  config: { token_policies: string[]; token_ttl: number; token_max_ttl: number };
  readonly secretIds: Set<string>;
}

type Body = Record<string, unknown>;

const seconds = (v: unknown) => (typeof v === 'number' ? v : durationMs(String(v)) / 1000);
const noRoute = (path: string) =>
  new HttpAnswer(404, [`no handler for route "${path}". route entry not found.`]);

export class FakeBackends {
  readonly tokens = new Map<string, Token>();
  readonly policies = new Map<string, string>([['default', '# default\n']]);
  readonly mounts: Record<string, MountInfo> = {
    'cubbyhole/': { type: 'cubbyhole' },
    'identity/': { type: 'identity' },
    'sys/': { type: 'system' },
  };
  readonly auths: Record<string, { type: string }> = { 'token/': { type: 'token' } };
  readonly audits: Record<string, { type: string; options: Record<string, string> }> = {};
  readonly appRoles = new Map<string, AppRole>();
  readonly tokenRoles = new Map<string, Body>();
  readonly kv = new Map<string, { data: Body; version: number }>();

  /** OpenBao refuses audit devices over the API (they are declared in the HCL); Vault takes them. */
  constructor(private readonly apiAudits: boolean) {}

  issue(policies: string[], extra: { role?: string; orphan?: boolean } = {}): Token {
    const t: Token = { id: `s.${randomBytes(18).toString('base64url')}`, policies, orphan: false, ...extra };
    this.tokens.set(t.id, t);
    return t;
  }

  /** What the policies named by vaultctl allow, coarsely: admin and root everything, others their own paths. */
  allowed(t: Token, method: string, path: string): boolean {
    if (t.policies.includes('root') || t.policies.includes('admin')) return true;
    if (/^auth\/token\/(lookup|renew|revoke)-self$/.test(path)) return t.policies.includes('default');
    if (t.policies.includes('metrics') && method === 'GET' && path === 'sys/metrics') return true;
    return t.policies.includes('app-read') && method === 'GET' && /^[^/]+\/data\//.test(path);
  }

  /** AppRole login: unauthenticated, like on the server. */
  login(body: Body) {
    const found = [...this.appRoles].find(([, r]) => r.roleId === body.role_id);
    if (!found?.[1].secretIds.has(String(body.secret_id)))
      throw new HttpAnswer(400, ['invalid role or secret ID']);
    const [name, role] = found;
    const t = this.issue(['default', ...role.config.token_policies], { role: name });
    return {
      auth: { client_token: t.id, policies: t.policies, renewable: true, metadata: { role_name: name } },
    };
  }

  route(method: string, path: string, body: Body, caller: Token): unknown {
    const write = method !== 'GET';
    const at = (re: RegExp) => re.exec(path)?.slice(1) as string[] | undefined;
    const table = <T>(m: Record<string, T>) => ({ ...m, data: { ...m } });
    const enable = (t: Record<string, unknown>, p: string, entry: unknown) => {
      if (t[`${p}/`]) throw new HttpAnswer(400, [`path is already in use at ${p}/`]);
      t[`${p}/`] = entry;
      return undefined;
    };
    if (!write && path === 'sys/audit') return table(this.audits);
    if (!write && path === 'sys/mounts') return table(this.mounts);
    if (!write && path === 'sys/auth') return table(this.auths);
    const audit = at(/^sys\/audit\/(.+)$/);
    if (write && audit) {
      if (!this.apiAudits) throw new HttpAnswer(400, ['audit devices cannot be created through the API']);
      return enable(this.audits, audit[0]!, { type: body.type, options: body.options ?? {} });
    }
    const mount = at(/^sys\/mounts\/(.+)$/);
    if (write && mount)
      return enable(this.mounts, mount[0]!, { type: body.type, options: body.options ?? null });
    const auth = at(/^sys\/auth\/(.+)$/);
    if (write && auth) return enable(this.auths, auth[0]!, { type: body.type });
    const policy = at(/^sys\/policies\/acl\/(.+)$/)?.[0];
    if (policy) return this.policy(write, policy, body);
    if (path.startsWith('auth/approle/')) return this.approle(write, path, body);
    if (path.startsWith('auth/token/')) return this.token(write, path, body, caller);
    const kv = at(/^([^/]+)\/data\/(.+)$/);
    if (kv && this.mounts[`${kv[0]}/`]?.options?.version === '2')
      return this.kvRoute(write, kv.join('/'), body);
    throw noRoute(path);
  }

  private policy(write: boolean, name: string, body: Body): unknown {
    if (write) {
      if (name === 'root') throw new HttpAnswer(400, ['cannot update root policy']);
      this.policies.set(name, String(body.policy ?? ''));
      return undefined;
    }
    const p = this.policies.get(name);
    if (p === undefined) throw new HttpAnswer(404);
    return { data: { name, policy: p } };
  }

  private approle(write: boolean, path: string, body: Body): unknown {
    if (!this.auths['approle/']) throw noRoute(path);
    const m = /^auth\/approle\/role\/([^/]+)(?:\/(role-id|secret-id))?$/.exec(path);
    if (!m) throw noRoute(path);
    const name = m[1]!;
    const sub = m[2];
    const role = this.appRoles.get(name);
    if (!sub && write) {
      const config = {
        token_policies: (body.token_policies as string[]) ?? [],
        token_ttl: seconds(body.token_ttl ?? 0),
        token_max_ttl: seconds(body.token_max_ttl ?? 0),
      };
      if (role) role.config = config;
      else this.appRoles.set(name, { roleId: randomUUID(), config, secretIds: new Set() });
      return undefined;
    }
    if (!role) {
      if (sub === 'secret-id') throw new HttpAnswer(400, [`role "${name}" does not exist`]);
      throw new HttpAnswer(404);
    }
    if (!sub)
      return { data: { ...role.config, bind_secret_id: true, secret_id_ttl: 0, token_type: 'default' } };
    if (sub === 'role-id') return { data: { role_id: role.roleId } };
    if (!write) throw new HttpAnswer(405, ['unsupported operation']);
    const secretId = randomUUID();
    role.secretIds.add(secretId);
    return { data: { secret_id: secretId, secret_id_accessor: randomUUID(), secret_id_ttl: 0 } };
  }

  private token(write: boolean, path: string, body: Body, caller: Token): unknown {
    const sub = path.slice('auth/token/'.length);
    const roleName = /^roles\/([^/]+)$/.exec(sub)?.[1];
    if (roleName && !write) {
      const r = this.tokenRoles.get(roleName);
      if (!r) throw new HttpAnswer(404);
      return { data: r };
    }
    if (roleName) {
      this.tokenRoles.set(roleName, {
        name: roleName,
        ...body,
        token_period: seconds(body.token_period ?? 0),
      });
      return undefined;
    }
    const createWith = /^create\/([^/]+)$/.exec(sub)?.[1];
    if (createWith) {
      const r = this.tokenRoles.get(createWith);
      if (!r) throw new HttpAnswer(400, [`unknown role ${createWith}`]);
      const policies = [
        ...((r.allowed_policies as string[]) ?? []),
        ...(r.token_no_default_policy ? [] : ['default']),
      ];
      const t = this.issue(policies, { role: createWith, orphan: r.orphan === true });
      return { auth: { client_token: t.id, policies: t.policies, renewable: true, orphan: t.orphan } };
    }
    const target = sub.endsWith('-self') ? caller : this.tokens.get(String(body.token ?? ''));
    if (sub === 'lookup' || sub === 'lookup-self') {
      if (!target) throw new HttpAnswer(403, ['bad token']);
      return {
        data: { id: target.id, policies: target.policies, orphan: target.orphan, role: target.role ?? '' },
      };
    }
    if (sub === 'renew' || sub === 'renew-self') {
      if (!target) throw new HttpAnswer(400, ['invalid token']);
      return { auth: { client_token: target.id, policies: target.policies, renewable: true } };
    }
    if (sub === 'revoke-self' && write) {
      this.tokens.delete(caller.id);
      return undefined;
    }
    throw noRoute(path);
  }

  private kvRoute(write: boolean, key: string, body: Body): unknown {
    if (write) {
      const version = (this.kv.get(key)?.version ?? 0) + 1;
      this.kv.set(key, { data: (body.data ?? {}) as Body, version });
      return { data: { version } };
    }
    const v = this.kv.get(key);
    if (!v) throw new HttpAnswer(404);
    return { data: { data: v.data, metadata: { version: v.version } } };
  }

  /** What a bootstrap configures, without random ids and token values. */
  snapshot() {
    return {
      audits: this.audits,
      mounts: this.mounts,
      auths: this.auths,
      policies: Object.fromEntries([...this.policies].sort()),
      appRoles: Object.fromEntries([...this.appRoles].map(([k, r]) => [k, r.config])),
      tokenRoles: Object.fromEntries(this.tokenRoles),
    };
  }
}
