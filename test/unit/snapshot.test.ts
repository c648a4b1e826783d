/**
 * Snapshot encryption logic without a cluster: age recipients and identity files, the refusal of
 * a passphrase together with recipients, the sidecar's `encrypted` shape (age and OpenSSL, old
 * sidecars included), and a save streamed from a local HTTP stand-in for the node, encrypted to an
 * age recipient, verified and (when Debian's age is installed) decrypted by it.
 */
import { execFileSync } from 'node:child_process';
import { createCipheriv, createHash, pbkdf2Sync, randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Encrypter, generateX25519Identity, identityToRecipient } from 'age-encryption';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Progress } from '../../src/cluster/events.js';
import { UsageError } from '../../src/errors.js';
import { listSnapshots } from '../../src/snapshot/catalog.js';
import {
  chooseEncryption,
  encryptionMeta,
  parseIdentities,
  parseRecipients,
  readIdentities,
} from '../../src/snapshot/encryption.js';
import { encryptionFormat, hasKeyFor, SNAPSHOT_FORMAT, type SnapshotMeta } from '../../src/snapshot/meta.js';
import { saveSnapshot } from '../../src/snapshot/save.js';
import { verifySnapshot } from '../../src/snapshot/verify.js';
import type { ClusterSpec } from '../../src/spec/schema.js';
import type { StateDir } from '../../src/state/state-dir.js';
import type { VaultNode } from '../../src/vault/port.js';
import { itNeeds } from '../helpers/host-tools.js';

let id1: string;
let id2: string;
let rec1: string;
let rec2: string;
let dir: string;

beforeAll(async () => {
  id1 = await generateX25519Identity();
  id2 = await generateX25519Identity();
  rec1 = await identityToRecipient(id1);
  rec2 = await identityToRecipient(id2);
  dir = mkdtempSync(join(tmpdir(), 'vaultctl-unit-snap-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function usage(fn: () => unknown): UsageError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return err as UsageError;
  }
  throw new Error('expected a UsageError');
}

describe('age recipients (--encrypt-to, --recipients-file)', () => {
  it('takes comma-separated and repeated --encrypt-to values, deduplicated, in order', () => {
    expect(parseRecipients([`${rec1}, ${rec2}`, rec1])).toEqual([rec1, rec2]);
  });

  it("reads age's recipients-file format: one a line, # comments, blank lines, CRLF", () => {
    const text = `# backup operators\n\n${rec2}\r\n  # indented comment\n${rec1}\n\n`;
    expect(parseRecipients([], { path: 'r.txt', text })).toEqual([rec2, rec1]);
    expect(parseRecipients([rec1], { path: 'r.txt', text })).toEqual([rec1, rec2]);
  });

  it('names the bad entry by place, not by text', () => {
    const e = usage(() => parseRecipients([`${rec1},age1notarecipient`]));
    expect(e.render()).toContain('Error reading the age recipients: entry 2 of --encrypt-to is not an age');
    expect(e.render()).not.toContain('age1notarecipient');
    const broken = `${rec1.slice(0, -1)}${rec1.endsWith('q') ? 'p' : 'q'}`; // bad bech32 checksum
    expect(usage(() => parseRecipients([], { path: 'r.txt', text: `# x\n${broken}\n` })).message).toBe(
      'line 2 of r.txt is not an age X25519 recipient',
    );
  });

  it('refuses a secret key given as a recipient without repeating it', () => {
    const e = usage(() => parseRecipients([], { path: 'r.txt', text: `${id1}\n` }));
    expect(e.message).toBe('line 1 of r.txt is an age secret key, not a recipient');
    expect(e.render()).not.toContain(id1);
    expect(usage(() => parseRecipients([id1])).render()).not.toContain(id1);
  });

  it('refuses an empty recipients file', () => {
    expect(usage(() => parseRecipients([], { path: 'r.txt', text: '# nobody\n\n' })).message).toBe(
      'no recipient in r.txt',
    );
  });
});

describe('age identity files (--identity, VAULTCTL_SNAPSHOT_IDENTITY)', () => {
  const keygen = (id: string, rec: string) =>
    `# created: 2026-11-28T21:00:00Z\n# public key: ${rec}\n${id}\n`;

  it('reads the file age-keygen writes (comments, one or more keys)', () => {
    expect(parseIdentities(keygen(id1, rec1), 'k.txt')).toEqual([id1]);
    expect(parseIdentities(`${keygen(id1, rec1)}\n${keygen(id2, rec2)}`, 'k.txt')).toEqual([id1, id2]);
  });

  it('refuses a recipient, garbage or no key, naming the line, never its text', () => {
    expect(usage(() => parseIdentities(`${rec1}\n`, 'k.txt')).message).toContain(
      'line 1 of k.txt is a recipient (a public key), not an identity',
    );
    const bad = `AGE-SECRET-KEY-1${'Q'.repeat(58)}`;
    const e = usage(() => parseIdentities(`# c\n${bad}\n`, 'k.txt'));
    expect(e.message).toBe('line 2 of k.txt is not an age X25519 identity (AGE-SECRET-KEY-1...)');
    expect(e.render()).not.toContain(bad);
    expect(usage(() => parseIdentities('# only comments\n', 'k.txt')).message).toBe(
      'k.txt holds no identity',
    );
  });

  it('reads --identity FILE, else the file VAULTCTL_SNAPSHOT_IDENTITY names, else none', () => {
    const f = join(dir, 'key.txt');
    writeFileSync(f, keygen(id1, rec1), { mode: 0o600 });
    const g = join(dir, 'key2.txt');
    writeFileSync(g, keygen(id2, rec2), { mode: 0o600 });
    expect(readIdentities(f, { VAULTCTL_SNAPSHOT_IDENTITY: g })).toEqual([id1]);
    expect(readIdentities(undefined, { VAULTCTL_SNAPSHOT_IDENTITY: g })).toEqual([id2]);
    expect(readIdentities(undefined, {})).toBeUndefined();
    expect(usage(() => readIdentities(join(dir, 'missing.txt'), {})).render()).toContain(
      'Error reading the age identity: ENOENT',
    );
  });

  it('a key pasted into VAULTCTL_SNAPSHOT_IDENTITY is refused without repeating it', () => {
    const e = usage(() => readIdentities(undefined, { VAULTCTL_SNAPSHOT_IDENTITY: id1 }));
    expect(e.message).toBe('VAULTCTL_SNAPSHOT_IDENTITY holds a key, not the path of a key file');
    expect(e.render()).not.toContain(id1);
  });
});

describe('choosing the encryption of a save', () => {
  it('refuses a passphrase and recipients together', () => {
    const e = usage(() => chooseEncryption('correct horse battery', [rec1]));
    expect(e.render()).toMatch(
      /^Error saving a snapshot: a passphrase and age recipients were both given\nhint: choose one/,
    );
    expect(e.render()).not.toContain('correct horse battery');
  });

  it('takes either, or none', () => {
    expect(chooseEncryption('correct horse battery', undefined)).toEqual({
      passphrase: 'correct horse battery',
    });
    expect(chooseEncryption(undefined, [rec1])).toEqual({ recipients: [rec1] });
    expect(chooseEncryption(undefined, [])).toBeUndefined();
    expect(chooseEncryption(undefined, undefined)).toBeUndefined();
  });

  it('records age and OpenSSL encryption in the sidecar; old OpenSSL sidecars (no format) still read', () => {
    expect(encryptionMeta({ recipients: [rec1, rec2] })).toEqual({ format: 'age', recipients: [rec1, rec2] });
    expect(encryptionMeta({ passphrase: 'x'.repeat(8) })).toEqual({
      format: 'openssl',
      cipher: 'aes-256-cbc',
      kdf: 'pbkdf2-hmac-sha256',
      iterations: 200_000,
    });
    expect(encryptionMeta(undefined)).toBeNull();
    const old = {
      encrypted: { cipher: 'aes-256-cbc', kdf: 'pbkdf2-hmac-sha256', iterations: 200_000 },
    } as const;
    expect(encryptionFormat(old)).toBe('openssl');
    expect(encryptionFormat({ encrypted: { format: 'age', recipients: [rec1] } })).toBe('age');
    expect(encryptionFormat({ encrypted: null })).toBeNull();
    expect(hasKeyFor(old, { identities: [id1] })).toBe(false);
    expect(hasKeyFor(old, { passphrase: 'x'.repeat(8) })).toBe(true);
    expect(
      hasKeyFor({ encrypted: { format: 'age', recipients: [rec1] } }, { passphrase: 'x'.repeat(8) }),
    ).toBe(false);
    expect(hasKeyFor({ encrypted: { format: 'age', recipients: [rec1] } }, { identities: [id1] })).toBe(true);
  });
});

/** A gzip "snapshot" of a few MiB (many age chunks of 64 KiB) and its sidecar fields. */
function fakeSnapshot(): Buffer {
  return gzipSync(Buffer.concat([randomBytes(1 << 20), Buffer.alloc(2 << 20, 'raft')]), { level: 1 });
}

function sidecar(file: string, stored: Buffer, plain: Buffer, encrypted: SnapshotMeta['encrypted']) {
  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
  writeFileSync(
    `${file}.json`,
    JSON.stringify({
      format: SNAPSHOT_FORMAT,
      file: file.split('/').pop(),
      cluster: 'unit',
      clusterId: 'c',
      flavor: 'openbao',
      version: '2.7.2',
      sealType: 'shamir',
      createdAt: new Date().toISOString(),
      size: stored.length,
      sha256: sha(stored),
      plainSize: plain.length,
      plainSha256: sha(plain),
      encrypted,
    }),
  );
}

describe('verify of encrypted files', () => {
  it('age: passes with the identity, says "not checked" without one, fails with another identity', async () => {
    const plain = fakeSnapshot();
    const e = new Encrypter();
    e.addRecipient(rec1);
    const stored = Buffer.from(await e.encrypt(plain));
    const file = join(dir, 'v.snap.age');
    writeFileSync(file, stored);
    sidecar(file, stored, plain, { format: 'age', recipients: [rec1] });
    await expect(verifySnapshot(file, { identities: [id2, id1] })).resolves.toMatchObject({
      size: stored.length,
    });
    const meta = await verifySnapshot(file, { passphrase: 'not the key' });
    expect(hasKeyFor(meta, { passphrase: 'not the key' })).toBe(false);
    const err = await verifySnapshot(file, { identities: [id2] }).catch((x: unknown) => x);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).exitCode).toBe(1);
    expect((err as UsageError).render()).toMatch(
      /^Error verifying \S+v\.snap\.age: cannot decrypt: wrong identity/,
    );
    expect((err as UsageError).render()).not.toContain(id2);
  });

  it('an OpenSSL file with an old sidecar (no format field) still verifies with its passphrase', async () => {
    const plain = fakeSnapshot();
    const pass = 'correct horse battery staple';
    const salt = randomBytes(8);
    const k = pbkdf2Sync(pass, salt, 200_000, 48, 'sha256');
    const c = createCipheriv('aes-256-cbc', k.subarray(0, 32), k.subarray(32));
    const stored = Buffer.concat([Buffer.from('Salted__'), salt, c.update(plain), c.final()]);
    const file = join(dir, 'old.snap.enc');
    writeFileSync(file, stored);
    sidecar(file, stored, plain, { cipher: 'aes-256-cbc', kdf: 'pbkdf2-hmac-sha256', iterations: 200_000 });
    await expect(verifySnapshot(file, { passphrase: pass })).resolves.toMatchObject({ size: stored.length });
    await expect(verifySnapshot(file, { passphrase: 'wrong passphrase' })).rejects.toThrow(
      'cannot decrypt: wrong passphrase',
    );
  });

  it('refuses an unknown encryption format in the sidecar', async () => {
    const file = join(dir, 'odd.snap.enc');
    writeFileSync(file, 'x');
    sidecar(file, Buffer.from('x'), Buffer.from('x'), { format: 'rot13' } as never);
    await expect(verifySnapshot(file, {})).rejects.toThrow('unknown encryption format "rot13"');
  });
});

describe('save encrypted to age recipients (a local stand-in for the node)', () => {
  let server: Server;
  let address: string;
  /** The stand-in sends a first piece, then nothing (an interrupted save). */
  let stall = false;
  const plain = fakeSnapshot();

  beforeAll(async () => {
    server = createServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/gzip' });
      // In pieces, as a node streams it.
      if (stall) {
        res.write(plain.subarray(0, 200_000));
        return;
      }
      let off = 0;
      const next = () => {
        if (off >= plain.length) return res.end();
        res.write(plain.subarray(off, off + 100_000), next);
        off += 100_000;
      };
      next();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    address = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => {
    server.closeAllConnections();
    server.close();
  });

  const spec = { name: 'unit', flavor: 'openbao' } as unknown as ClusterSpec;
  const state = { sealKeyFile: join(tmpdir(), 'vaultctl-no-such-seal-key') } as unknown as StateDir;
  const progress: Progress = { step() {}, done() {}, info() {}, warn() {}, debug() {} };
  const api = {
    address: '',
    health: async () => ({ cluster_id: 'c', version: '2.7.2' }),
    sealStatus: async () => ({ type: 'shamir' }),
    leader: async () => ({ raft_committed_index: 42 }),
    autopilotState: async () => ({ servers: {} }),
  };

  it('streams into a 0600 .snap.age with a sidecar; verify passes', async () => {
    const out = mkdtempSync(join(dir, 'save-'));
    const meta = await saveSnapshot(
      spec,
      state,
      { api: { ...api, address } as unknown as VaultNode, token: 't', progress },
      { dir: out, recipients: [rec1, rec2] },
    );
    expect(meta.file).toMatch(/^unit-.*\.snap\.age$/);
    expect(meta.encrypted).toEqual({ format: 'age', recipients: [rec1, rec2] });
    expect(meta.plainSha256).toBe(createHash('sha256').update(plain).digest('hex'));
    const file = join(out, meta.file);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readdirSync(out).sort()).toEqual([meta.file, `${meta.file}.json`]);
    expect(readFileSync(file).subarray(0, 21).toString()).toBe('age-encryption.org/v1');
    await expect(verifySnapshot(file, { identities: [id2] })).resolves.toMatchObject({ raftIndex: 42 });
    expect(listSnapshots(out).map((s) => s.file)).toEqual([file]);
  });

  itNeeds('age')("Debian's age decrypts the .snap.age with either recipient's identity", async () => {
    const out = mkdtempSync(join(dir, 'save-age-cli-'));
    const meta = await saveSnapshot(
      spec,
      state,
      { api: { ...api, address } as unknown as VaultNode, token: 't', progress },
      { dir: out, recipients: [rec1, rec2] },
    );
    const file = join(out, meta.file);
    for (const id of [id1, id2]) {
      const key = join(out, 'key.txt');
      writeFileSync(key, `${id}\n`, { mode: 0o600 });
      chmodSync(key, 0o600);
      const dec = execFileSync('age', ['-d', '-i', key, file], { maxBuffer: 64 << 20 });
      expect(createHash('sha256').update(dec).digest('hex')).toBe(meta.plainSha256);
      rmSync(key);
    }
  });

  it('aborted in the middle of an age save: no partial file, nothing under the final name', async () => {
    const out = mkdtempSync(join(dir, 'abort-'));
    stall = true;
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 300);
    try {
      const err = await saveSnapshot(
        spec,
        state,
        { api: { ...api, address } as unknown as VaultNode, token: 't', progress, signal: ac.signal },
        { dir: out, recipients: [rec1] },
      ).catch((x: unknown) => x);
      expect((err as Error).name).toBe('AbortError');
    } finally {
      stall = false;
    }
    expect(readdirSync(out)).toEqual([]);
  });

  it('refuses a passphrase and recipients together before touching the node or the disk', async () => {
    const out = mkdtempSync(join(dir, 'both-'));
    let asked = false;
    const spy = {
      ...api,
      address,
      health: async () => {
        asked = true;
        return {};
      },
    } as unknown as VaultNode;
    await expect(
      saveSnapshot(
        spec,
        state,
        { api: spy, token: 't', progress },
        { dir: out, passphrase: 'correct horse battery', recipients: [rec1] },
      ),
    ).rejects.toThrow('a passphrase and age recipients were both given');
    expect(asked).toBe(false);
    expect(readdirSync(out)).toEqual([]);
  });
});
