/**
 * Names in the shared (Redis) cache tier. The seed's namespace, `vault:secrets:{tenant_id}:
 * {exchange}:{credential_type}`, for credential paths; other KV paths under `path:`. A KV mount
 * other than "secret" adds `@{mount}:` so two mounts never share an entry. Lock and generation
 * keys sit beside the entry under `lock:` / `gen:`: no entry name starts with those (entries
 * start with a UUID, `path:` or `@`). Names carry only path parts, never secret material.
 */
import { parseCredentialPath } from './credential-path.js';

export const DEFAULT_PREFIX = 'vault:secrets:';

export interface SharedKeyNames {
  /** The encrypted entry. */
  readonly entry: string;
  /** The single-flight lock of a cold read. */
  readonly lock: string;
  /** Bumped by every write or delete: a fill that started before it is refused. */
  readonly gen: string;
}

export function sharedKeyNames(prefix: string, mount: string, path: string): SharedKeyNames {
  const c = parseCredentialPath(path);
  const body = c ? `${c.tenantId}:${c.exchange}:${c.type}` : `path:${path}`;
  const base = mount === 'secret' ? prefix : `${prefix}@${mount}:`;
  return { entry: `${base}${body}`, lock: `${base}lock:${body}`, gen: `${base}gen:${body}` };
}

/** The pub/sub channel on which writers announce invalidations. */
export function invalidationChannel(prefix: string): string {
  return `${prefix}invalidate`;
}

export interface InvalidationMessage {
  readonly mount: string;
  readonly path: string;
  /** The instance that wrote, so it can skip its own message. */
  readonly from: string;
}

export function encodeInvalidation(m: InvalidationMessage): string {
  return JSON.stringify({ m: m.mount, p: m.path, f: m.from });
}

/** undefined for anything that is not a well-formed invalidation (it is ignored). */
export function decodeInvalidation(text: string): InvalidationMessage | undefined {
  try {
    const o = JSON.parse(text) as { m?: unknown; p?: unknown; f?: unknown };
    if (typeof o.m !== 'string' || typeof o.p !== 'string' || typeof o.f !== 'string') return undefined;
    return { mount: o.m, path: o.p, from: o.f };
  } catch {
    return undefined;
  }
}
