/** A directory destination: copy to a hidden partial file, fsync, rename, read back, then the sidecar. */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { RemoteError } from '../errors.js';
import type { SnapshotMeta } from '../snapshot/meta.js';
import { writeFileAtomic } from '../state/atomic.js';
import { type Destination, isSnapshotName, type StoredMeta, type StoredSnapshot } from './destination.js';

export async function sha256OfFile(
  file: string,
  signal?: AbortSignal,
): Promise<{ sha256: string; size: number }> {
  const h = createHash('sha256');
  let size = 0;
  await pipeline(
    createReadStream(file),
    async (src: AsyncIterable<Buffer>) => {
      for await (const c of src) {
        h.update(c);
        size += c.length;
      }
    },
    ...(signal ? [{ signal }] : []),
  );
  return { sha256: h.digest('hex'), size };
}

export class DirDestination implements Destination {
  readonly id: string;
  readonly dir: string;

  constructor(url: string) {
    this.id = url;
    this.dir = url.startsWith('file://') ? url.slice('file://'.length) : url;
  }

  async put(file: string, meta: SnapshotMeta, signal: AbortSignal): Promise<StoredSnapshot> {
    const doing = `copying the snapshot to ${this.dir}`;
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const final = join(this.dir, meta.file);
    const tmp = join(this.dir, `.${meta.file}.partial-${process.pid}`);
    try {
      await copyFile(file, tmp);
      const fh = await open(tmp, 'r');
      await fh.sync();
      await fh.close();
      signal.throwIfAborted();
      await rename(tmp, final);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
    const back = await sha256OfFile(final, signal);
    if (back.sha256 !== meta.sha256 || back.size !== meta.size) {
      await rm(final, { force: true });
      throw new RemoteError(
        doing,
        `read back ${back.size} bytes with another SHA-256 than was written`,
        'the copy was removed; check the disk (dmesg, smartctl): the next run copies again',
      );
    }
    const stored: StoredMeta = {
      ...meta,
      verified: { at: new Date().toISOString(), sha256: back.sha256, destination: this.id },
    };
    writeFileAtomic(`${final}.json`, `${JSON.stringify(stored, null, 2)}\n`);
    return { key: meta.file, url: final, meta: stored };
  }

  async list(): Promise<StoredSnapshot[]> {
    const names = await readdir(this.dir).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return [] as string[];
      throw err;
    });
    const out: StoredSnapshot[] = [];
    for (const name of names.filter(isSnapshotName)) {
      const side = join(this.dir, `${name}.json`);
      try {
        const meta = JSON.parse(await readFile(side, 'utf8')) as StoredMeta;
        if (!meta.verified) continue;
        const st = await stat(join(this.dir, name));
        if (st.size !== meta.size) continue;
        out.push({ key: name, url: join(this.dir, name), meta });
      } catch {
        // no sidecar: not a verified snapshot
      }
    }
    return out.sort((a, b) => b.meta.createdAt.localeCompare(a.meta.createdAt));
  }

  async remove(key: string): Promise<void> {
    await rm(join(this.dir, `${key}.json`), { force: true });
    await rm(join(this.dir, key), { force: true });
  }

  async fetch(key: string, toFile: string): Promise<StoredMeta> {
    await copyFile(join(this.dir, key), toFile);
    await copyFile(join(this.dir, `${key}.json`), `${toFile}.json`);
    return JSON.parse(await readFile(`${toFile}.json`, 'utf8')) as StoredMeta;
  }

  async cleanup(): Promise<string[]> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    const removed: string[] = [];
    for (const name of names) {
      const partial = /^\..*\.partial-(\d+)$/.exec(name);
      if (partial && !alive(Number(partial[1]))) {
        await rm(join(this.dir, name), { force: true });
        removed.push(name);
      }
    }
    return removed;
  }
}

function alive(pid: number): boolean {
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
