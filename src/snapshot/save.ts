/**
 * `saveSnapshot`: a raft snapshot streamed to disk, checksummed, optionally encrypted, never a
 * half file under the final name, with its sidecar.
 */
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { closeSync, createWriteStream, existsSync, fsyncSync, openSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { gunzipSync, constants as zlibConstants } from 'node:zlib';
import { Encrypter } from 'age-encryption';
import type { Progress } from '../cluster/events.js';
import { errorMessage, RemoteError, UsageError } from '../errors.js';
import type { ClusterSpec } from '../spec/schema.js';
import { writeFileAtomic } from '../state/atomic.js';
import type { StateDir } from '../state/state-dir.js';
import type { VaultNode, VaultTls } from '../vault/port.js';
import { snapshotDownload } from '../vault/stream.js';
import { chooseEncryption, deriveKey, encryptionMeta, MAGIC, parseRecipients } from './encryption.js';
import { gpgEncrypt } from './gpg.js';
import { SNAPSHOT_FORMAT, type SnapshotMeta, sealKeyId, sidecarPath } from './meta.js';

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
  /** GPG: encrypt to the public keys in these files (fingerprints recorded); not with the others. */
  readonly gpg?:
    | { readonly keyFiles: readonly string[]; readonly fingerprints: readonly string[] }
    | undefined;
  /** The node is a standby and no node is active (`--allow-stale`): recorded in the sidecar. */
  readonly stale?: { readonly node: string; readonly reason: string } | undefined;
}

/** How much of the plain snapshot to keep for `archiveRaftMeta`: meta.json is its first entry. */
const HEAD_BYTES = 64 * 1024;

/**
 * The raft index and term recorded in the snapshot archive itself (a gzipped tar whose first entry
 * is meta.json): what the node put in it, where no leader can say. Undefined when unreadable.
 */
export function archiveRaftMeta(head: Buffer): { index?: number; term?: number } | undefined {
  try {
    const tar = gunzipSync(head, { finishFlush: zlibConstants.Z_SYNC_FLUSH });
    const name = tar.subarray(0, 100).toString('utf8').replace(/\0.*$/s, '');
    if (name !== 'meta.json') return undefined;
    const size = Number.parseInt(tar.subarray(124, 136).toString('utf8').replace(/\0.*$/s, '').trim(), 8);
    const meta = JSON.parse(tar.subarray(512, 512 + size).toString('utf8')) as {
      Index?: unknown;
      Term?: unknown;
    };
    return {
      ...(typeof meta.Index === 'number' ? { index: meta.Index } : {}),
      ...(typeof meta.Term === 'number' ? { term: meta.Term } : {}),
    };
  } catch {
    return undefined;
  }
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
  if (enc && opts.gpg)
    throw new UsageError(doing, 'GPG keys and another encryption were both given', 'choose one encryption');
  const suffix = opts.gpg ? '.gpg' : !enc ? '' : 'recipients' in enc ? '.age' : '.enc';
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
  const head: Buffer[] = [];
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
          if (plainSize < HEAD_BYTES) head.push(chunk.subarray(0, HEAD_BYTES - plainSize));
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
        if (opts.gpg) {
          yield* gpgEncrypt(src, opts.gpg.keyFiles);
          return;
        }
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
    if (plainSize === 0)
      throw new RemoteError(
        doing,
        'the node sent an empty snapshot',
        "try again; the node's log (docker logs <container>) says why",
      );
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    if (err instanceof UsageError || err instanceof RemoteError) throw err;
    if ((err as Error).name === 'AbortError' || deps.signal?.aborted) throw err;
    throw new UsageError(doing, `writing ${file}: ${errorMessage(err)}`, diskHint(err));
  }
  // Without a leader there is no autopilot to ask for the term: the archive says what it holds.
  const archive = archiveRaftMeta(Buffer.concat(head));
  const raftIndex = leader.raft_committed_index ?? archive?.index;
  const raftTerm = leaderServer?.last_term ?? archive?.term;
  const meta: SnapshotMeta = {
    format: SNAPSHOT_FORMAT,
    file: basename(file),
    cluster: spec.name,
    clusterId: health.cluster_id ?? '',
    flavor: spec.flavor,
    version: health.version ?? '',
    sealType: seal.type,
    ...(seal.type === 'static' && sealKeyId(state) ? { sealKeyId: sealKeyId(state)! } : {}),
    ...(raftIndex !== undefined ? { raftIndex } : {}),
    ...(raftTerm !== undefined ? { raftTerm } : {}),
    ...(opts.stale ? { stale: opts.stale } : {}),
    createdAt: new Date().toISOString(),
    size,
    sha256: outHash.digest('hex'),
    plainSize,
    plainSha256: plainHash.digest('hex'),
    encrypted: opts.gpg ? { format: 'gpg', recipients: [...opts.gpg.fingerprints] } : encryptionMeta(enc),
  };
  try {
    writeFileAtomic(sidecarPath(file), `${JSON.stringify(meta, null, 2)}\n`);
  } catch (err) {
    rmSync(file, { force: true });
    throw new UsageError(doing, `writing the metadata of ${file}: ${errorMessage(err)}`, diskHint(err));
  }
  const how = opts.gpg
    ? ', encrypted to GPG keys'
    : !enc
      ? ''
      : 'recipients' in enc
        ? ', encrypted to age recipients'
        : ', encrypted';
  deps.progress.done(`saved ${file} (${(size / 1024).toFixed(0)} KiB${how})`);
  return meta;
}
