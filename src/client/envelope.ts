/**
 * The encrypted form of a cache entry in Redis: `v1.{kv version}.` + base64(nonce 12 bytes |
 * ciphertext | tag 16 bytes), AES-256-GCM under the application's 32-byte key. The entry's Redis
 * key name, the KV version and the format version are the additional authenticated data, so an
 * entry copied to another key, written under another key, or altered in any byte fails to open:
 * the reader treats it as a miss. The KV version (a number, not secret) stays readable so that a
 * Redis script can tell an entry older than a write without the key.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { VaultInvalidInputError } from './errors.js';

const VERSION = 'v1';
const NONCE = 12;
const TAG = 16;

export interface CacheEntry {
  readonly data: Record<string, unknown>;
  readonly version: number;
}

/** The 32-byte key from bytes, or from base64 / hex text. */
export function cacheKeyBytes(key: Uint8Array | string): Buffer {
  const buf =
    typeof key === 'string'
      ? /^[0-9a-f]{64}$/i.test(key)
        ? Buffer.from(key, 'hex')
        : Buffer.from(key, 'base64')
      : Buffer.from(key);
  if (buf.length !== 32)
    throw new VaultInvalidInputError(
      `cache.shared.key must be 32 bytes (AES-256), got ${buf.length}: pass 32 random bytes, or them in base64 or hex`,
    );
  return buf;
}

function aad(name: string, version: number): Buffer {
  return Buffer.from(`vaultctl-cache:${VERSION}:${name}:${version}`, 'utf8');
}

const SEALED = /^v1\.(\d{1,15})\.([A-Za-z0-9+/=]+)$/;

export function sealEntry(key: Buffer, name: string, entry: CacheEntry): string {
  const nonce = randomBytes(NONCE);
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG });
  cipher.setAAD(aad(name, entry.version));
  const plain = Buffer.from(JSON.stringify({ d: entry.data, v: entry.version }), 'utf8');
  const body = Buffer.concat([cipher.update(plain), cipher.final()]);
  return `${VERSION}.${entry.version}.${Buffer.concat([nonce, body, cipher.getAuthTag()]).toString('base64')}`;
}

/** The entry, or undefined when the text is not one this key sealed under this name. */
export function openEntry(key: Buffer, name: string, text: string): CacheEntry | undefined {
  const m = SEALED.exec(text);
  if (!m) return undefined;
  const version = Number(m[1]);
  const raw = Buffer.from(m[2]!, 'base64');
  if (raw.length < NONCE + TAG + 1) return undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, NONCE), { authTagLength: TAG });
    decipher.setAAD(aad(name, version));
    decipher.setAuthTag(raw.subarray(raw.length - TAG));
    const plain = Buffer.concat([decipher.update(raw.subarray(NONCE, raw.length - TAG)), decipher.final()]);
    const o = JSON.parse(plain.toString('utf8')) as { d?: unknown; v?: unknown };
    if (typeof o.d !== 'object' || o.d === null || Array.isArray(o.d)) return undefined;
    if (o.v !== version) return undefined;
    return { data: o.d as Record<string, unknown>, version: o.v };
  } catch {
    return undefined;
  }
}
