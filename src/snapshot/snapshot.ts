/**
 * Raft snapshots: save (streamed, checksummed, optionally encrypted, never a half file under the
 * final name), verify, list, prune, restore.
 *
 * Encryption comes in two formats, both restorable with standard tools:
 * - with a passphrase, OpenSSL's `enc` format (AES-256-CBC, key and IV from PBKDF2-HMAC-SHA256 with
 *   a random salt), `X.snap.enc`:
 *     openssl enc -d -aes-256-cbc -pbkdf2 -iter 200000 -md sha256 -pass file:PASSFILE -in X.snap.enc -out X.snap
 * - to age X25519 recipients (public keys), the age format (age-encryption.org/v1), `X.snap.age`:
 *     age -d -i key.txt -o X.snap X.snap.age
 * The sidecar `<file>.json` holds the metadata and the SHA-256 of the file and of the plain snapshot.
 */
import { createCipheriv, createDecipheriv, createHash, pbkdf2Sync, randomBytes } from 'node:crypto';
import {
  closeSync,
  createReadStream,
  createWriteStream,
  existsSync,
  fsyncSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { createGunzip } from 'node:zlib';
import { Decrypter, Encrypter } from 'age-encryption';
import type { Progress } from '../cluster/events.js';
import { pollUntil } from '../cluster/poll.js';
import { errorMessage, RemoteError, UsageError } from '../errors.js';
import type { ClusterSpec, Flavor, SealType } from '../spec/spec.js';
import type { StateDir } from '../state/state-dir.js';
import type { VaultNode, VaultTls } from '../vault/port.js';
import { snapshotDownload, snapshotUpload } from '../vault/stream.js';

export const SNAPSHOT_FORMAT = 'vaultctl-snapshot/1';
const PBKDF2_ITER = 200_000;
const MAGIC = Buffer.from('Salted__');
/** An age X25519 recipient: "age1" and 58 bech32 characters (lowercase). */
const AGE_RECIPIENT = /^age1[02-9ac-hj-np-z]{58}$/;
/** An age X25519 identity as age-keygen writes it: "AGE-SECRET-KEY-1" and 58 bech32 characters. */
const AGE_IDENTITY = /^AGE-SECRET-KEY-1[02-9AC-HJ-NP-Z]{58}$/;

/** How a snapshot file is encrypted, as its sidecar records it. */
export type SnapshotEncryption =
  | {
      /** Absent in sidecars written before age support: those are OpenSSL's format too. */
      readonly format?: 'openssl';
      readonly cipher: 'aes-256-cbc';
      readonly kdf: 'pbkdf2-hmac-sha256';
      readonly iterations: number;
    }
  | {
      readonly format: 'age';
      /** The age X25519 recipients (public keys) the file is encrypted to. */
      readonly recipients: readonly string[];
    };

/** What can decrypt a snapshot: a passphrase (OpenSSL format) and/or age identities (age format). */
export interface SnapshotKeys {
  readonly passphrase?: string | undefined;
  /** age identities, `AGE-SECRET-KEY-1...`. */
  readonly identities?: readonly string[] | undefined;
}

export interface SnapshotMeta {
  readonly format: typeof SNAPSHOT_FORMAT;
  readonly file: string;
  readonly cluster: string;
  readonly clusterId: string;
  readonly flavor: Flavor;
  readonly version: string;
  readonly sealType: SealType | string;
  /** SHA-256 prefix of the static seal key the data is sealed with (not the key). */
  readonly sealKeyId?: string;
  readonly raftIndex?: number;
  readonly raftTerm?: number;
  readonly createdAt: string;
  /** Bytes and SHA-256 of the file as stored (encrypted when encrypted). */
  readonly size: number;
  readonly sha256: string;
  /** Bytes and SHA-256 of the plain snapshot. */
  readonly plainSize: number;
  readonly plainSha256: string;
  readonly encrypted: null | SnapshotEncryption;
}

/** The encryption format of a snapshot, from its metadata ('openssl' for old sidecars too). */
export function encryptionFormat(meta: Pick<SnapshotMeta, 'encrypted'>): 'openssl' | 'age' | null {
  if (!meta.encrypted) return null;
  return meta.encrypted.format === 'age' ? 'age' : 'openssl';
}

/** Whether `keys` hold what this snapshot's format needs to decrypt (not whether it is the right one). */
export function hasKeyFor(meta: Pick<SnapshotMeta, 'encrypted'>, keys: SnapshotKeys): boolean {
  const format = encryptionFormat(meta);
  if (format === 'openssl') return Boolean(keys.passphrase);
  if (format === 'age') return (keys.identities?.length ?? 0) > 0;
  return true;
}

function missingKey(doing: string, meta: Pick<SnapshotMeta, 'encrypted'>): UsageError {
  return encryptionFormat(meta) === 'age'
    ? new UsageError(
        doing,
        'the snapshot is encrypted to age recipients and no identity was given',
        'pass --identity FILE (an age-keygen key file) or set VAULTCTL_SNAPSHOT_IDENTITY to its path',
      )
    : new UsageError(
        doing,
        'the snapshot is encrypted and no passphrase was given',
        'pass --passphrase-file FILE or set VAULTCTL_SNAPSHOT_PASSPHRASE',
      );
}

export function sidecarPath(file: string): string {
  return `${file}.json`;
}

export function sealKeyId(state: StateDir): string | undefined {
  if (!existsSync(state.sealKeyFile)) return undefined;
  return createHash('sha256').update(readFileSync(state.sealKeyFile)).digest('hex').slice(0, 16);
}

/** The passphrase: the first line of a file, or an environment variable; never argv. */
export function readPassphrase(file: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new UsageError(
        'reading the snapshot passphrase',
        errorMessage(err),
        '--passphrase-file takes a file whose first line is the passphrase',
      );
    }
    const first = text.split(/\r?\n/)[0] ?? '';
    if (first.length < 8)
      throw new UsageError('reading the snapshot passphrase', 'shorter than 8 characters');
    return first;
  }
  const v = env.VAULTCTL_SNAPSHOT_PASSPHRASE;
  return v ? v : undefined;
}

/**
 * age recipients from `--encrypt-to` values (comma-separated) and a recipients file (age's format:
 * one per line, `#` comments, blank lines). Only X25519 recipients (`age1...`): Debian's age 1.1
 * decrypts those. Deduplicated, in order. Throws a UsageError naming the bad entry's place, never
 * its text (someone may paste a secret key by mistake).
 */
export function parseRecipients(
  encryptTo: readonly string[],
  file?: { readonly path: string; readonly text: string },
): string[] {
  const doing = 'reading the age recipients';
  const entries: { value: string; where: string }[] = [];
  let n = 0;
  for (const arg of encryptTo) {
    for (const part of arg.split(',')) {
      n++;
      const value = part.trim();
      if (value) entries.push({ value, where: `entry ${n} of --encrypt-to` });
    }
  }
  if (file) {
    for (const [i, line] of file.text.split(/\r?\n/).entries()) {
      const value = line.trim();
      if (value && !value.startsWith('#')) entries.push({ value, where: `line ${i + 1} of ${file.path}` });
    }
  }
  const out: string[] = [];
  for (const { value, where } of entries) {
    if (value.toUpperCase().startsWith('AGE-SECRET-KEY-')) {
      throw new UsageError(
        doing,
        `${where} is an age secret key, not a recipient`,
        'give the public key (`age-keygen -y KEYFILE` prints it); keep the secret key out of argv and recipient files',
      );
    }
    if (!AGE_RECIPIENT.test(value) || !validAgeRecipient(value)) {
      throw new UsageError(
        doing,
        `${where} is not an age X25519 recipient`,
        'recipients look like age1 followed by 58 characters, as `age-keygen` prints them',
      );
    }
    if (!out.includes(value)) out.push(value);
  }
  if (encryptTo.length + (file ? 1 : 0) > 0 && out.length === 0)
    throw new UsageError(doing, `no recipient in ${file ? file.path : '--encrypt-to'}`);
  return out;
}

function validAgeRecipient(r: string): boolean {
  try {
    new Encrypter().addRecipient(r);
    return true;
  } catch {
    return false;
  }
}

/**
 * age identities from the text of an identity file as age-keygen writes it (`AGE-SECRET-KEY-1...`
 * lines, `#` comments, blank lines). Errors name the line, never its text.
 */
export function parseIdentities(text: string, path: string): string[] {
  const doing = 'reading the age identity';
  const out: string[] = [];
  for (const [i, line] of text.split(/\r?\n/).entries()) {
    const value = line.trim();
    if (!value || value.startsWith('#')) continue;
    if (value.startsWith('age1')) {
      throw new UsageError(
        doing,
        `line ${i + 1} of ${path} is a recipient (a public key), not an identity`,
        '--identity takes the secret key file written by `age-keygen -o key.txt`',
      );
    }
    if (!AGE_IDENTITY.test(value) || !validAgeIdentity(value))
      throw new UsageError(
        doing,
        `line ${i + 1} of ${path} is not an age X25519 identity (AGE-SECRET-KEY-1...)`,
      );
    if (!out.includes(value)) out.push(value);
  }
  if (out.length === 0)
    throw new UsageError(
      doing,
      `${path} holds no identity`,
      '--identity takes the secret key file written by `age-keygen -o key.txt`',
    );
  return out;
}

function validAgeIdentity(id: string): boolean {
  try {
    new Decrypter().addIdentity(id);
    return true;
  } catch {
    return false;
  }
}

/** age identities: the file `--identity` names, or the file VAULTCTL_SNAPSHOT_IDENTITY names; never argv. */
export function readIdentities(file: string | undefined, env: NodeJS.ProcessEnv): string[] | undefined {
  const doing = 'reading the age identity';
  let path = file;
  if (!path) {
    const v = env.VAULTCTL_SNAPSHOT_IDENTITY;
    if (!v) return undefined;
    // A key pasted into the variable: say so without repeating it (an error would print the "path").
    if (/AGE-SECRET-KEY-/i.test(v))
      throw new UsageError(
        doing,
        'VAULTCTL_SNAPSHOT_IDENTITY holds a key, not the path of a key file',
        'set it to the path of the file age-keygen wrote',
      );
    path = v;
  }
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(
      doing,
      errorMessage(err),
      '--identity (or VAULTCTL_SNAPSHOT_IDENTITY) takes the path of the key file age-keygen wrote',
    );
  }
  return parseIdentities(text, path);
}

/** One encryption for a save: a passphrase or age recipients, never both. */
export function chooseEncryption(
  passphrase: string | undefined,
  recipients: readonly string[] | undefined,
): { passphrase: string } | { recipients: readonly string[] } | undefined {
  if (passphrase && recipients && recipients.length > 0) {
    throw new UsageError(
      'saving a snapshot',
      'a passphrase and age recipients were both given',
      'choose one: --encrypt-to/--recipients-file, or --passphrase-file/VAULTCTL_SNAPSHOT_PASSPHRASE (unset it for an age save)',
    );
  }
  if (passphrase) return { passphrase };
  if (recipients && recipients.length > 0) return { recipients };
  return undefined;
}

/** The sidecar's `encrypted` field for a save. */
export function encryptionMeta(
  enc: { passphrase: string } | { recipients: readonly string[] } | undefined,
): SnapshotEncryption | null {
  if (!enc) return null;
  if ('recipients' in enc) return { format: 'age', recipients: [...enc.recipients] };
  return { format: 'openssl', cipher: 'aes-256-cbc', kdf: 'pbkdf2-hmac-sha256', iterations: PBKDF2_ITER };
}

function deriveKey(passphrase: string, salt: Buffer): { key: Buffer; iv: Buffer } {
  const out = pbkdf2Sync(passphrase, salt, PBKDF2_ITER, 48, 'sha256');
  return { key: out.subarray(0, 32), iv: out.subarray(32, 48) };
}

function atomicJson(path: string, value: unknown): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600, flag: 'w' });
  renameSync(tmp, path);
}

function diskHint(err: unknown): string | undefined {
  const code = (err as { code?: string }).code;
  if (code === 'ENOSPC')
    return 'the disk is full: free space or save to another --dir; nothing was left under the final name';
  if (code === 'EACCES') return 'no permission to write there: choose another --dir';
  return undefined;
}

export interface SaveOptions {
  /** Exact file; else `dir`/<cluster>-<UTC time>.snap[.enc|.age]. */
  readonly file?: string | undefined;
  readonly dir?: string | undefined;
  /** OpenSSL-format encryption with this passphrase; or */
  readonly passphrase?: string | undefined;
  /** age encryption to these X25519 recipients (not both). */
  readonly recipients?: readonly string[] | undefined;
}

export interface SaveDeps {
  readonly api: VaultNode;
  readonly token: string;
  readonly tls?: VaultTls | undefined;
  readonly progress: Progress;
  readonly signal?: AbortSignal | undefined;
}

export async function saveSnapshot(
  spec: ClusterSpec,
  state: StateDir,
  deps: SaveDeps,
  opts: SaveOptions,
): Promise<SnapshotMeta> {
  const doing = 'saving a snapshot';
  const enc = chooseEncryption(opts.passphrase, opts.recipients && parseRecipients(opts.recipients));
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const suffix = !enc ? '' : 'recipients' in enc ? '.age' : '.enc';
  const file = opts.file ?? join(opts.dir ?? '.', `${spec.name}-${stamp}.snap${suffix}`);
  if (existsSync(file))
    throw new UsageError(
      doing,
      `${file} already exists`,
      'vaultctl never overwrites a snapshot; choose another name or --dir',
    );
  const dir = dirname(file);
  if (!existsSync(dir)) throw new UsageError(doing, `the directory ${dir} does not exist`, 'create it first');

  const [health, seal, leader] = await Promise.all([
    deps.api.health(),
    deps.api.sealStatus(),
    deps.api.leader(),
  ]);
  const ap = await deps.api.autopilotState().catch(() => undefined);
  const leaderServer = ap ? Object.values(ap.servers).find((s) => s.status === 'leader') : undefined;

  const tmp = join(dir, `.${basename(file)}.partial-${process.pid}`);
  const plainHash = createHash('sha256');
  const outHash = createHash('sha256');
  let plainSize = 0;
  let size = 0;
  const salt = randomBytes(8);
  const derived = enc && 'passphrase' in enc ? deriveKey(enc.passphrase, salt) : undefined;
  const cipher = derived ? createCipheriv('aes-256-cbc', derived.key, derived.iv) : undefined;
  let encrypter: Encrypter | undefined;
  if (enc && 'recipients' in enc) {
    encrypter = new Encrypter();
    for (const r of enc.recipients) encrypter.addRecipient(r);
  }
  deps.progress.step(`saving a snapshot of ${spec.name} from ${deps.api.address}`);
  try {
    const body = await snapshotDownload(
      { address: deps.api.address, token: deps.token, tls: deps.tls },
      deps.signal,
    );
    await pipeline(
      body,
      async function* (src: AsyncIterable<Buffer>) {
        if (cipher) yield Buffer.concat([MAGIC, salt]);
        for await (const chunk of src) {
          plainHash.update(chunk);
          plainSize += chunk.length;
          if (cipher) yield cipher.update(chunk);
          else yield chunk;
          if (plainSize % (64 << 20) < chunk.length)
            deps.progress.step(`saving a snapshot: ${(plainSize / 1048576).toFixed(0)} MiB`);
        }
        if (cipher) yield cipher.final();
      },
      // age: the library's streaming encryption (64 KiB chunks), fed and drained chunk by chunk.
      async function* (src: AsyncIterable<Buffer>) {
        if (!encrypter) {
          yield* src;
          return;
        }
        const sealed = await encrypter.encrypt(
          Readable.toWeb(Readable.from(src)) as ReadableStream<Uint8Array>,
        );
        for await (const c of Readable.fromWeb(sealed as WebReadableStream<Uint8Array>))
          yield Buffer.from(c.buffer, c.byteOffset, c.byteLength);
      },
      async function* (src: AsyncIterable<Buffer>) {
        for await (const chunk of src) {
          outHash.update(chunk);
          size += chunk.length;
          yield chunk;
        }
      },
      createWriteStream(tmp, { mode: 0o600, flags: 'wx' }),
      ...(deps.signal ? [{ signal: deps.signal }] : []),
    );
    const fd = openSync(tmp, 'r');
    fsyncSync(fd);
    closeSync(fd);
    if (plainSize === 0) throw new RemoteError(doing, 'the node sent an empty snapshot');
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    if (err instanceof UsageError || err instanceof RemoteError) throw err;
    if ((err as Error).name === 'AbortError') throw err;
    throw new UsageError(doing, `writing ${file}: ${errorMessage(err)}`, diskHint(err));
  }
  const meta: SnapshotMeta = {
    format: SNAPSHOT_FORMAT,
    file: basename(file),
    cluster: spec.name,
    clusterId: health.cluster_id ?? '',
    flavor: spec.flavor,
    version: health.version ?? '',
    sealType: seal.type,
    ...(seal.type === 'static' && sealKeyId(state) ? { sealKeyId: sealKeyId(state)! } : {}),
    ...(leader.raft_committed_index !== undefined ? { raftIndex: leader.raft_committed_index } : {}),
    ...(leaderServer?.last_term !== undefined ? { raftTerm: leaderServer.last_term } : {}),
    createdAt: new Date().toISOString(),
    size,
    sha256: outHash.digest('hex'),
    plainSize,
    plainSha256: plainHash.digest('hex'),
    encrypted: encryptionMeta(enc),
  };
  try {
    atomicJson(sidecarPath(file), meta);
  } catch (err) {
    rmSync(file, { force: true });
    throw new UsageError(doing, `writing the metadata of ${file}: ${errorMessage(err)}`, diskHint(err));
  }
  const how = !enc ? '' : 'recipients' in enc ? ', encrypted to age recipients' : ', encrypted';
  deps.progress.done(`saved ${file} (${(size / 1024).toFixed(0)} KiB${how})`);
  return meta;
}

function readMeta(file: string): SnapshotMeta {
  const doing = `verifying ${file}`;
  if (!existsSync(file)) throw new UsageError(doing, 'no such file');
  const side = sidecarPath(file);
  if (!existsSync(side))
    throw new UsageError(
      doing,
      `its metadata ${side} is missing`,
      'a snapshot saved by vaultctl has a .json sidecar with its checksum',
    );
  let meta: SnapshotMeta;
  try {
    meta = JSON.parse(readFileSync(side, 'utf8')) as SnapshotMeta;
  } catch (err) {
    throw new UsageError(doing, `its metadata is not valid JSON: ${errorMessage(err)}`);
  }
  if (meta.format !== SNAPSHOT_FORMAT)
    throw new UsageError(doing, `unknown metadata format "${meta.format}"`);
  const enc = meta.encrypted as { format?: unknown; recipients?: unknown } | null;
  if (enc && enc.format !== undefined && enc.format !== 'openssl' && enc.format !== 'age')
    throw new UsageError(doing, `unknown encryption format "${String(enc.format)}" in its metadata`);
  if (enc?.format === 'age' && !Array.isArray(enc.recipients))
    throw new UsageError(doing, 'its metadata says age but lists no recipients');
  return meta;
}

/**
 * The plain snapshot as a stream (decrypting when needed). For age, the header is read and a
 * matching identity found before this resolves: a wrong identity rejects with a UsageError.
 */
export async function openPlain(
  file: string,
  meta: SnapshotMeta,
  keys: SnapshotKeys,
  doing = `reading ${file}`,
): Promise<Readable> {
  const format = encryptionFormat(meta);
  if (!format) return createReadStream(file);
  if (!hasKeyFor(meta, keys)) throw missingKey(doing, meta);
  if (format === 'age') return openAge(file, keys.identities ?? [], doing);
  const passphrase = keys.passphrase!;
  const head = Buffer.alloc(16);
  const fd = openSync(file, 'r');
  readSync(fd, head, 0, 16, 0);
  closeSync(fd);
  if (!head.subarray(0, 8).equals(MAGIC))
    throw new UsageError(`reading ${file}`, 'not an encrypted snapshot (no OpenSSL salt header)');
  const { key, iv } = deriveKey(passphrase, head.subarray(8, 16));
  const decipher = createDecipheriv('aes-256-cbc', key, iv);
  return createReadStream(file, { start: 16 }).pipe(decipher);
}

async function openAge(file: string, identities: readonly string[], doing: string): Promise<Readable> {
  const d = new Decrypter();
  for (const id of identities) d.addIdentity(id);
  const src = createReadStream(file);
  let plain: ReadableStream<Uint8Array>;
  try {
    plain = await d.decrypt(Readable.toWeb(src) as ReadableStream<Uint8Array>);
  } catch (err) {
    src.destroy();
    const msg = errorMessage(err);
    if (/no identity matched/.test(msg)) {
      throw new UsageError(
        doing,
        "cannot decrypt: wrong identity (no key in the identity file matches the file's age recipients)",
        'check --identity / VAULTCTL_SNAPSHOT_IDENTITY; the sidecar lists the recipients it was encrypted to',
      );
    }
    throw new UsageError(doing, `cannot decrypt: not a readable age file (${msg})`);
  }
  return Readable.fromWeb(plain as WebReadableStream<Uint8Array>);
}

/**
 * Checks size and SHA-256 against the sidecar, decrypts (with the passphrase or age identity) and
 * gunzips the whole snapshot, and compares the plain SHA-256. Throws a UsageError naming what is
 * wrong. An encrypted file without its key is checked as stored only (see hasKeyFor).
 */
export async function verifySnapshot(file: string, keys: SnapshotKeys): Promise<SnapshotMeta> {
  const doing = `verifying ${file}`;
  const meta = readMeta(file);
  const size = statSync(file).size;
  if (size !== meta.size) {
    throw new UsageError(
      doing,
      `${size} bytes, the metadata says ${meta.size}: the file is ${size < meta.size ? 'truncated' : 'longer than saved'}`,
    );
  }
  const h = createHash('sha256');
  await pipeline(createReadStream(file), async (src: AsyncIterable<Buffer>) => {
    for await (const c of src) h.update(c);
  });
  if (h.digest('hex') !== meta.sha256)
    throw new UsageError(doing, 'SHA-256 mismatch: the file was altered or corrupted');
  if (!hasKeyFor(meta, keys)) return meta;
  const format = encryptionFormat(meta);
  const plain = createHash('sha256');
  let unpacked = 0;
  try {
    await pipeline(
      await openPlain(file, meta, keys, doing),
      async function* (src: AsyncIterable<Buffer>) {
        for await (const c of src) {
          plain.update(c);
          yield c;
        }
      },
      createGunzip(),
      async (src: AsyncIterable<Buffer>) => {
        for await (const c of src) unpacked += c.length;
      },
    );
  } catch (err) {
    if (err instanceof UsageError) throw err;
    const msg = errorMessage(err);
    // The encrypted bytes matched their checksum: what fails after decryption is the key.
    if (format === 'age')
      throw new UsageError(doing, `cannot decrypt: ${msg} (a damaged file, or not what the sidecar says)`);
    if (format === 'openssl') {
      throw new UsageError(
        doing,
        'cannot decrypt: wrong passphrase (or a damaged file)',
        'check --passphrase-file / VAULTCTL_SNAPSHOT_PASSPHRASE',
      );
    }
    throw new UsageError(doing, `not a valid snapshot archive: ${msg}`);
  }
  if (plain.digest('hex') !== meta.plainSha256)
    throw new UsageError(doing, 'the decrypted snapshot does not match its SHA-256');
  if (unpacked === 0) throw new UsageError(doing, 'the snapshot archive is empty');
  return meta;
}

export interface ListedSnapshot {
  readonly file: string;
  readonly meta?: SnapshotMeta;
  readonly size: number;
  readonly createdAt: string;
}

export function listSnapshots(dir: string): ListedSnapshot[] {
  if (!existsSync(dir)) throw new UsageError('listing snapshots', `the directory ${dir} does not exist`);
  return readdirSync(dir)
    .filter((f) => /\.snap(\.enc|\.age)?$/.test(f) && !f.startsWith('.'))
    .map((f) => {
      const file = join(dir, f);
      let meta: SnapshotMeta | undefined;
      try {
        meta = readMeta(file);
      } catch {
        meta = undefined;
      }
      const st = statSync(file);
      return {
        file,
        size: st.size,
        createdAt: meta?.createdAt ?? st.mtime.toISOString(),
        ...(meta ? { meta } : {}),
      };
    })
    .sort((a, b) => b.createdAt.localeCompare(a.createdAt));
}

/** Keeps the newest `keep`; of the rest removes all, or with maxAgeMs only those older than it. */
export function pruneSnapshots(dir: string, keep: number, maxAgeMs?: number, now = Date.now()): string[] {
  const removed: string[] = [];
  for (const [i, s] of listSnapshots(dir).entries()) {
    if (i < keep) continue;
    if (maxAgeMs !== undefined && now - Date.parse(s.createdAt) < maxAgeMs) continue;
    rmSync(s.file, { force: true });
    rmSync(sidecarPath(s.file), { force: true });
    removed.push(s.file);
  }
  return removed;
}

export interface RestoreTarget {
  readonly api: VaultNode;
  readonly token: string;
  readonly tls?: VaultTls | undefined;
  readonly clusterId: string;
  readonly sealType: string;
}

/**
 * Why a snapshot cannot be restored into this target (undefined: it can). `forceable` problems
 * are ones the operator can mend after the restore (supply the source's seal key or unseal keys).
 */
export function restoreRefusal(
  meta: SnapshotMeta,
  spec: ClusterSpec,
  state: StateDir,
  target: { clusterId: string | undefined; sealType: string },
): { reason: string; forceable: boolean } | undefined {
  if (meta.flavor !== spec.flavor) {
    return {
      reason: `the snapshot is from ${meta.flavor}, the target runs ${spec.flavor}: their storage formats differ`,
      forceable: false,
    };
  }
  if (meta.sealType !== target.sealType) {
    return {
      reason: `the snapshot's data is sealed with the ${meta.sealType} seal, the target uses ${target.sealType}: it could not unseal the restored data`,
      forceable: false,
    };
  }
  if (meta.sealType === 'static' && meta.sealKeyId && meta.sealKeyId !== sealKeyId(state)) {
    return {
      reason:
        "the snapshot's data is sealed with another static seal key than this cluster's: its nodes could not unseal the restored data (copy the source's seal.key into the state dir and run `vaultctl up` first)",
      forceable: true,
    };
  }
  if (meta.sealType === 'shamir' && target.clusterId !== undefined && meta.clusterId !== target.clusterId) {
    return {
      reason:
        "the snapshot comes from another Shamir cluster: after the restore the nodes need that cluster's unseal keys, not this cluster's",
      forceable: true,
    };
  }
  return undefined;
}

/** Uploads the snapshot; `force` (snapshot-force) when it comes from another cluster. */
export async function uploadSnapshot(
  file: string,
  meta: SnapshotMeta,
  keys: SnapshotKeys,
  target: RestoreTarget,
  force: boolean,
): Promise<void> {
  await snapshotUpload(
    { address: target.api.address, token: target.token, tls: target.tls },
    await openPlain(file, meta, keys),
    force,
  );
}

export interface RestoreDeps {
  readonly progress: Progress;
  readonly tls?: VaultTls | undefined;
  /** Token for an initialised target (BAO_TOKEN, admin credential, stored root token). */
  readonly token: () => Promise<string | undefined>;
  readonly nodes: readonly { name: string; api: VaultNode }[];
  /** Stop and start a node's container (fresh-cluster restores keep the followers out meanwhile). */
  readonly stopNode: (name: string) => Promise<void>;
  readonly startNode: (name: string) => Promise<void>;
  readonly signal?: AbortSignal | undefined;
}

export interface RestoreResult {
  readonly meta: SnapshotMeta;
  readonly into: 'running cluster' | 'fresh cluster';
  readonly forced: boolean;
}

/**
 * Restores a verified snapshot. Into a running cluster: upload (forced when it comes from another
 * cluster). Into a fresh, uninitialised cluster (disaster recovery after total loss): initialise the
 * first node with throwaway keys (kept 0600 in the state dir until the end, for a crash), upload
 * with force, and let the restored data take over; the state dir's own key material then applies.
 */
export async function restoreSnapshot(
  spec: ClusterSpec,
  state: StateDir,
  file: string,
  keys: SnapshotKeys,
  deps: RestoreDeps,
  opts: { force?: boolean } = {},
): Promise<RestoreResult> {
  const doing = `restoring ${file}`;
  deps.progress.step(`verifying ${file}`);
  const meta = await verifySnapshot(file, keys);
  if (!hasKeyFor(meta, keys)) throw missingKey(doing, meta);
  const statuses = await Promise.all(
    deps.nodes.map(async (n) => ({
      n,
      s: await n.api.sealStatus().catch(() => undefined),
      h: await n.api.health().catch(() => undefined),
    })),
  );
  const down = statuses.filter((x) => !x.s).map((x) => x.n.name);
  if (down.length > 0) {
    throw new RemoteError(
      doing,
      `node${down.length > 1 ? 's' : ''} ${down.join(', ')} do${down.length > 1 ? '' : 'es'} not answer`,
      'a restore needs every node: `vaultctl up`, then retry. Nothing was changed.',
    );
  }
  const initialised = statuses.some((x) => x.s?.initialized);
  const sealType = statuses[0]!.s!.type;

  if (initialised) {
    const active = statuses.find((x) => x.h?.initialized && !x.h.sealed && !x.h.standby);
    if (!active) throw new RemoteError(doing, 'no active node', '`vaultctl health`; unseal first');
    const clusterId = active.h!.cluster_id ?? '';
    const why = restoreRefusal(meta, spec, state, { clusterId, sealType });
    if (why && !(why.forceable && opts.force)) {
      const hint = why.forceable
        ? '--force restores anyway, when you will provide what is missing. Nothing was changed.'
        : 'nothing was changed';
      throw new UsageError(doing, why.reason, hint);
    }
    const token = await deps.token();
    if (!token) throw new UsageError(doing, 'no token', 'run `vaultctl init`, or export BAO_TOKEN');
    const forced = opts.force === true || meta.clusterId !== clusterId;
    deps.progress.step(`restoring into ${active.n.name}${forced ? ' (forced: another cluster)' : ''}`);
    await uploadSnapshot(
      file,
      meta,
      keys,
      { api: active.n.api, token, tls: deps.tls, clusterId, sealType },
      forced,
    );
    return { meta, into: 'running cluster', forced };
  }

  // A fresh cluster: nothing to lose on it; restore over a throwaway initialisation.
  // A fresh cluster has no id yet; for Shamir the state dir's unseal keys apply after the restore.
  const why = restoreRefusal(meta, spec, state, { clusterId: undefined, sealType });
  if (why && !(why.forceable && opts.force)) {
    throw new UsageError(
      doing,
      why.reason,
      why.forceable ? '--force restores anyway. Nothing was changed.' : 'nothing was changed',
    );
  }
  const [first, ...followers] = deps.nodes as [
    { name: string; api: VaultNode },
    ...{ name: string; api: VaultNode }[],
  ];
  const auto = sealType !== 'shamir';
  const activeWithin = async (ms: number, what: string) => {
    const start = Date.now();
    for (;;) {
      const h = await first.api.health().catch(() => undefined);
      if (h?.initialized && !h.sealed && !h.standby) return;
      if (Date.now() - start > ms)
        throw new RemoteError(
          doing,
          `${first.name} did not become active ${what}`,
          '`docker logs` of the node says why',
        );
      await new Promise((r) => setTimeout(r, 250));
    }
  };
  // The followers stay out until the restored data is in place: had they joined the throwaway
  // cluster, they would hold its keyring and could not follow the restored one.
  for (const f of followers) await deps.stopNode(f.name);
  deps.progress.step(`initialising ${first.name} with throwaway keys for the restore`);
  const tmpFile = join(state.root, 'restore-init.tmp.json');
  const res = await first.api.init(
    auto ? { recovery_shares: 1, recovery_threshold: 1 } : { secret_shares: 1, secret_threshold: 1 },
  );
  state.writeFileAtomic(tmpFile, `${JSON.stringify(res, null, 2)}\n`);
  try {
    if (!auto) await first.api.unseal((res.keys_base64 ?? [])[0]!);
    await activeWithin(60_000, 'after the throwaway initialisation');
    deps.progress.step(`restoring into ${first.name} (forced: a fresh cluster)`);
    await uploadSnapshot(
      file,
      meta,
      keys,
      { api: first.api, token: res.root_token, tls: deps.tls, clusterId: '', sealType },
      true,
    );
  } finally {
    rmSync(tmpFile, { force: true });
  }
  // Now the restored data rules: its seal (the state dir's key) and its tokens. The node keeps the
  // throwaway cluster's raft TLS keyring in memory until it restarts; followers joining before
  // that could not talk to it ("tls: unrecognized name"), so restart it first.
  deps.progress.step(`restarting ${first.name} to load the restored data`);
  await deps.stopNode(first.name);
  await deps.startNode(first.name);
  await pollUntil(() => first.api.sealStatus(), {
    what: `${first.name} to answer after the restart`,
    timeoutMs: 60_000,
    signal: deps.signal,
  });
  if (!auto) {
    const material = state.readInit();
    const st = await first.api.sealStatus();
    if (st.sealed && material && !material.pgp)
      for (const k of material.keys.slice(0, st.t)) await first.api.unseal(k);
  }
  await activeWithin(90_000, 'with the restored data');
  const token = await deps.token();
  if (!token)
    throw new UsageError(
      doing,
      'the data is restored but no token of the restored cluster is at hand',
      'export BAO_TOKEN with a token of the source cluster',
    );
  // The restored raft configuration still lists the source's other servers: drop them, so the
  // followers can join afresh.
  const leader = first.api;
  leader.setToken(token);
  // Right after the restore the leader is busy with peers that are gone: retry, bounded.
  const servers = await pollUntil(() => leader.raftServers(), {
    what: 'the restored raft configuration',
    timeoutMs: 60_000,
    intervalMs: 500,
    signal: deps.signal,
  });
  for (const srv of servers) {
    if (srv.node_id === first.name) continue;
    deps.progress.step(`removing the stale raft peer ${srv.node_id}`);
    await pollUntil(
      () =>
        leader
          .write(
            'sys/storage/raft/remove-peer',
            { server_id: srv.node_id },
            `removing raft peer ${srv.node_id}`,
          )
          .then(() => true),
      {
        what: `the removal of raft peer ${srv.node_id}`,
        timeoutMs: 60_000,
        intervalMs: 500,
        signal: deps.signal,
      },
    );
  }
  leader.setToken(undefined);
  for (const f of followers) await deps.startNode(f.name);
  return { meta, into: 'fresh cluster', forced: true };
}
