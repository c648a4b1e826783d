/**
 * The one atomic file write: a 0600 temp file beside the target, fsync, rename. A crash never
 * leaves a half file under the final name, and a failed write (a full disk) removes its temp file.
 */
import { randomBytes } from 'node:crypto';
import {
  chownSync,
  closeSync,
  existsSync,
  fsyncSync,
  openSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { dirname } from 'node:path';
import { UsageError } from '../errors.js';

/**
 * Whom a file written as root must belong to: the file it replaces, or else the directory it goes
 * in. Directories the containers mount are handed to their unprivileged uid (runtime
 * docker-ownership.ts); a key rewritten there (TLS rotation, the metrics token) must stay readable
 * by that uid and only by it.
 */
function ownerFor(path: string): { uid: number; gid: number } | undefined {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined;
  try {
    const st = statSync(path);
    return { uid: st.uid, gid: st.gid };
  } catch {
    const dir = statSync(dirname(path));
    return dir.uid === 0 ? undefined : { uid: dir.uid, gid: dir.gid };
  }
}

/** Writes `content` to `path` atomically. With `exclusive`, an existing file is never replaced. */
export function writeFileAtomic(
  path: string,
  content: string | Buffer,
  options: { exclusive?: boolean } = {},
): void {
  if (options.exclusive && existsSync(path)) {
    throw new UsageError(
      `writing ${path}`,
      'the file already exists and holds key material',
      'vaultctl never overwrites keys; move it away first if you mean to replace it',
    );
  }
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const bytes = typeof content === 'string' ? Buffer.from(content) : content;
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    try {
      for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    if (options.exclusive && existsSync(path))
      throw new UsageError(
        `writing ${path}`,
        'the file appeared while writing',
        'another process wrote it meanwhile: check it, and move it away if you mean to replace it',
      );
    const owner = ownerFor(path);
    if (owner && owner.uid !== 0) chownSync(tmp, owner.uid, owner.gid);
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}
