/**
 * The one atomic file write: a 0600 temp file beside the target, fsync, rename. A crash never
 * leaves a half file under the final name, and a failed write (a full disk) removes its temp file.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { UsageError } from '../errors.js';

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
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}
