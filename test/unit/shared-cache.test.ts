/**
 * The shared cache tier's pure parts: the AES-256-GCM envelope (tampered, moved or foreign entries
 * do not open), the Redis key names (the seed's namespace, no secret material), the invalidation
 * message, and the in-memory tier's guard against filling after an invalidation.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseCredentialPath } from '../../src/client/credential-path.js';
import { cacheKeyBytes, openEntry, sealEntry } from '../../src/client/envelope.js';
import { credentialPath, VaultInvalidInputError } from '../../src/client/index.js';
import { LocalCache } from '../../src/client/local-cache.js';
import {
  decodeInvalidation,
  encodeInvalidation,
  invalidationChannel,
  sharedKeyNames,
} from '../../src/client/shared-keys.js';

const T = '11111111-1111-4111-8111-111111111111';
const KEY = randomBytes(32);
const NAME = `vault:secrets:${T}:binance:trading`;
const ENTRY = { data: { api_key: 'AK-plain-123', secret: 'SK-plain-456' }, version: 3 };
/** The base64 part of a sealed entry. */
const body = (sealed: string) => Buffer.from(sealed.split('.')[2]!, 'base64');

describe('cache envelope', () => {
  it('opens what it sealed, and the sealed text holds no plaintext', () => {
    const sealed = sealEntry(KEY, NAME, ENTRY);
    expect(sealed.startsWith('v1.3.')).toBe(true);
    expect(openEntry(KEY, NAME, sealed)).toEqual(ENTRY);
    const decoded = body(sealed).toString('latin1');
    for (const s of ['AK-plain-123', 'SK-plain-456', 'api_key', 'secret'])
      expect(sealed + decoded).not.toContain(s);
  });

  it('uses a fresh 96-bit nonce every time', () => {
    const a = sealEntry(KEY, NAME, ENTRY);
    const b = sealEntry(KEY, NAME, ENTRY);
    expect(a).not.toBe(b);
    const nonce = (s: string) => body(s).subarray(0, 12).toString('hex');
    expect(nonce(a)).not.toBe(nonce(b));
  });

  it('does not open an entry with any byte changed', () => {
    const sealed = sealEntry(KEY, NAME, ENTRY);
    const raw = body(sealed);
    for (let i = 0; i < raw.length; i++) {
      const t = Buffer.from(raw);
      t[i] = t[i]! ^ 0x01;
      expect(openEntry(KEY, NAME, `v1.3.${t.toString('base64')}`), `byte ${i}`).toBeUndefined();
    }
    // The readable KV version is authenticated too: a "newer" label does not open.
    expect(openEntry(KEY, NAME, sealed.replace('v1.3.', 'v1.4.'))).toBeUndefined();
  });

  it('does not open an entry moved to another key name, sealed with another key, or not sealed at all', () => {
    const sealed = sealEntry(KEY, NAME, ENTRY);
    expect(openEntry(KEY, `vault:secrets:${T}:binance:readonly`, sealed)).toBeUndefined();
    expect(openEntry(randomBytes(32), NAME, sealed)).toBeUndefined();
    expect(openEntry(KEY, NAME, JSON.stringify(ENTRY))).toBeUndefined();
    expect(openEntry(KEY, NAME, 'v1.')).toBeUndefined();
    expect(openEntry(KEY, NAME, 'v2.3.AAAA')).toBeUndefined();
    expect(openEntry(KEY, NAME, 'v1.x.AAAA')).toBeUndefined();
    expect(openEntry(KEY, NAME, sealed.slice(0, -4))).toBeUndefined();
  });

  it('takes the key as 32 bytes, base64 or hex, and refuses any other length', () => {
    expect(cacheKeyBytes(KEY).equals(KEY)).toBe(true);
    expect(cacheKeyBytes(KEY.toString('base64')).equals(KEY)).toBe(true);
    expect(cacheKeyBytes(KEY.toString('hex')).equals(KEY)).toBe(true);
    expect(() => cacheKeyBytes(randomBytes(16))).toThrow(VaultInvalidInputError);
    expect(() => cacheKeyBytes('too-short')).toThrow(/32 bytes/);
  });
});

describe('shared cache key names', () => {
  it("follow the seed's namespace for credential paths", () => {
    const n = sharedKeyNames('vault:secrets:', 'secret', credentialPath(T, 'binance', 'trading'));
    expect(n).toEqual({
      entry: NAME,
      lock: `vault:secrets:lock:${T}:binance:trading`,
      gen: `vault:secrets:gen:${T}:binance:trading`,
    });
    expect(invalidationChannel('vault:secrets:')).toBe('vault:secrets:invalidate');
  });

  it('keep other mounts and other paths apart, and lock/gen keys apart from entries', () => {
    const p = credentialPath(T, 'binance', 'trading');
    expect(sharedKeyNames('vault:secrets:', 'kv2', p).entry).toBe(`vault:secrets:@kv2:${T}:binance:trading`);
    expect(sharedKeyNames('app:', 'secret', 'config/db').entry).toBe('app:path:config/db');
    // A path that looks like a lock key still lands under "path:".
    expect(sharedKeyNames('vault:secrets:', 'secret', `lock:${T}`).entry).toBe(
      `vault:secrets:path:lock:${T}`,
    );
    const entries = new Set(
      ['config/a', p, credentialPath(T, 'kraken', 'readonly')].map(
        (x) => sharedKeyNames('vault:secrets:', 'secret', x).entry,
      ),
    );
    expect(entries.size).toBe(3);
  });

  it('parse only valid credential paths', () => {
    expect(parseCredentialPath(credentialPath(T, 'kraken', 'readonly'))).toEqual({
      tenantId: T,
      exchange: 'kraken',
      type: 'readonly',
    });
    expect(parseCredentialPath(`tenants/${T}/exchanges/Kraken/readonly`)).toBeUndefined();
    expect(parseCredentialPath(`tenants/not-a-uuid/exchanges/kraken/readonly`)).toBeUndefined();
    expect(parseCredentialPath(`tenants/${T}/exchanges/kraken/admin`)).toBeUndefined();
  });

  it('encode invalidations and ignore malformed messages', () => {
    const m = { mount: 'secret', path: 'a/b', from: 'id-1' };
    expect(decodeInvalidation(encodeInvalidation(m))).toEqual(m);
    expect(decodeInvalidation('not json')).toBeUndefined();
    expect(decodeInvalidation('{"m":"secret"}')).toBeUndefined();
  });
});

describe('LocalCache', () => {
  const v = { data: { a: 1 }, version: 1 };

  it('stores a read that saw no invalidation', () => {
    const c = new LocalCache({ max: 10, ttlMs: 60_000 });
    const mark = c.mark();
    c.delete('other');
    expect(c.set('k', v, mark)).toBe(true);
    expect(c.get('k')).toEqual(v);
  });

  it('refuses a read that started before its key was invalidated or the cache cleared', () => {
    const c = new LocalCache({ max: 10, ttlMs: 60_000 });
    const m1 = c.mark();
    c.delete('k');
    expect(c.set('k', v, m1)).toBe(false);
    expect(c.get('k')).toBeUndefined();
    const m2 = c.mark();
    c.clear();
    expect(c.set('k', v, m2)).toBe(false);
    expect(c.set('k', v, c.mark())).toBe(true);
  });
});
