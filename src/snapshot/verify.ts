/**
 * Reading a snapshot back: the plain stream (decrypted when needed) and the whole-file check
 * against its sidecar.
 */
import { createDecipheriv, createHash } from 'node:crypto';
import { closeSync, createReadStream, openSync, readSync, statSync } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { createGunzip } from 'node:zlib';
import { Decrypter } from 'age-encryption';
import { errorMessage, UsageError } from '../errors.js';
import { deriveKey, MAGIC } from './encryption.js';
import { gpgDecrypt } from './gpg.js';
import {
  encryptionFormat,
  hasKeyFor,
  missingKey,
  readMeta,
  type SnapshotKeys,
  type SnapshotMeta,
} from './meta.js';

/** What to do about a snapshot that is not the one saved. */
const INTACT_COPY =
  'use an intact copy of this snapshot, or another one (vaultctl snapshot list --dir DIR lists them)';

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
  if (format === 'gpg')
    return gpgDecrypt(createReadStream(file), keys.gpgKeyFile!, keys.gpgPassphraseFile, doing);
  const passphrase = keys.passphrase!;
  const head = Buffer.alloc(16);
  const fd = openSync(file, 'r');
  readSync(fd, head, 0, 16, 0);
  closeSync(fd);
  if (!head.subarray(0, 8).equals(MAGIC))
    throw new UsageError(
      `reading ${file}`,
      'not an encrypted snapshot (no OpenSSL salt header)',
      'the sidecar says it is encrypted: use the snapshot saved with this sidecar',
    );
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
    throw new UsageError(doing, `cannot decrypt: not a readable age file (${msg})`, INTACT_COPY);
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
      INTACT_COPY,
    );
  }
  const h = createHash('sha256');
  await pipeline(createReadStream(file), async (src: AsyncIterable<Buffer>) => {
    for await (const c of src) h.update(c);
  });
  if (h.digest('hex') !== meta.sha256)
    throw new UsageError(doing, 'SHA-256 mismatch: the file was altered or corrupted', INTACT_COPY);
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
    if (format === 'age' || format === 'gpg')
      throw new UsageError(
        doing,
        `cannot decrypt: ${msg} (a damaged file, or not what the sidecar says)`,
        INTACT_COPY,
      );
    if (format === 'openssl') {
      throw new UsageError(
        doing,
        'cannot decrypt: wrong passphrase (or a damaged file)',
        'check --passphrase-file / VAULTCTL_SNAPSHOT_PASSPHRASE',
      );
    }
    throw new UsageError(doing, `not a valid snapshot archive: ${msg}`, INTACT_COPY);
  }
  if (plain.digest('hex') !== meta.plainSha256)
    throw new UsageError(doing, 'the decrypted snapshot does not match its SHA-256', INTACT_COPY);
  if (unpacked === 0) throw new UsageError(doing, 'the snapshot archive is empty', INTACT_COPY);
  return meta;
}
