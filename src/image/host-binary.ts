/**
 * Images of the helper containers (Prometheus, the HAProxy endpoint) built from the host's own
 * Debian binaries, for hosts without registry access: the binary plus the shared libraries `ldd`
 * names, at their own paths, on an otherwise empty root. The same code path as a pulled image
 * afterwards: `up` only needs the tag.
 */
import { execFile } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import type { Progress } from '../cluster/events.js';
import { UsageError } from '../errors.js';
import type { ContainerRuntime, ProgressEvent } from '../runtime/port.js';
import { inspectElf } from './image.js';

const run = promisify(execFile);

/** Debian's prometheus package installs the server here. */
export const DEBIAN_PROMETHEUS = '/usr/bin/prometheus';
/** Debian's busybox-static package installs the static busybox here. */
export const DEBIAN_BUSYBOX = '/bin/busybox';
/** Debian's haproxy package installs the proxy here. */
export const DEBIAN_HAPROXY = '/usr/sbin/haproxy';

export interface HostImageResult {
  readonly tag: string;
  readonly id: string;
  readonly version: string;
  /** Shared libraries copied into the image (empty for a static binary). */
  readonly libraries: readonly string[];
}
/** Kept for the Prometheus image's callers. */
export type PrometheusImageResult = HostImageResult;

/** The shared libraries a dynamic binary loads, from `ldd` (the loader included). Empty when static. */
export function parseLdd(output: string): string[] {
  const libs: string[] = [];
  for (const line of output.split('\n')) {
    const m = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(0x/.exec(line);
    if (m?.[1]) libs.push(m[1]);
  }
  return libs;
}

/** What differs between the helper images. */
interface HostImageRecipe {
  /** Component name: the image's `io.vaultctl.component` label and default tag `vaultctl/<name>:<version>`. */
  readonly name: string;
  /** Arguments that print the version, and where in the output it is. */
  readonly versionArgs: readonly string[];
  readonly versionPattern: RegExp;
  /** Path of the binary inside the image. */
  readonly target: string;
  /** Empty directories the program needs (a writable /tmp is always made). */
  readonly dirs: readonly string[];
  readonly workdir: string;
  readonly entrypoint: readonly string[];
  readonly cmd: readonly string[];
  /** What installs the binary, for the hint. */
  readonly installHint: string;
}

async function buildHostImage(
  recipe: HostImageRecipe,
  binary: string,
  tag: string | undefined,
  deps: { runtime: ContainerRuntime; progress: Progress },
): Promise<HostImageResult> {
  const doing = `checking the binary ${binary}`;
  const elf = (() => {
    try {
      return inspectElf(binary);
    } catch (err) {
      throw new UsageError(doing, (err as Error).message, recipe.installHint);
    }
  })();
  if (!elf.elf) throw new UsageError(doing, 'not an ELF executable', `give the ${recipe.name} binary itself`);
  let version: string;
  try {
    const out = await run(binary, [...recipe.versionArgs], { timeout: 20_000 });
    const m = recipe.versionPattern.exec(`${out.stdout}\n${out.stderr}`);
    if (!m) throw new Error(`unrecognised version output: ${out.stdout.trim().slice(0, 80)}`);
    version = m[1]!;
  } catch (err) {
    throw new UsageError(
      doing,
      `\`${recipe.name} ${recipe.versionArgs.join(' ')}\` failed: ${(err as Error).message}`,
      `give a ${recipe.name} binary that runs on this host (Debian's: bash scripts/setup.sh)`,
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
  const finalTag = tag ?? `vaultctl/${recipe.name}:${version}`;
  await deps.runtime.ping();
  const dir = mkdtempSync(join(tmpdir(), 'vaultctl-image-'));
  try {
    const root = join(dir, 'rootfs');
    mkdirSync(join(root, dirname(recipe.target)), { recursive: true });
    copyFileSync(binary, join(root, recipe.target));
    chmodSync(join(root, recipe.target), 0o755);
    for (const lib of libraries) {
      mkdirSync(join(root, dirname(lib)), { recursive: true });
      copyFileSync(lib, join(root, lib)); // follows symlinks: the real file under the linked name
      chmodSync(join(root, lib), 0o755);
    }
    for (const d of ['tmp', ...recipe.dirs]) mkdirSync(join(root, d), { recursive: true });
    chmodSync(join(root, 'tmp'), 0o1777);
    writeFileSync(
      join(dir, 'Dockerfile'),
      [
        `# Built by \`vaultctl image build --${recipe.name}\` from ${binary} and the libraries it loads.`,
        'FROM scratch',
        'COPY rootfs/ /',
        `ENV PATH=${dirname(recipe.target)}`,
        `WORKDIR ${recipe.workdir}`,
        `ENTRYPOINT ${JSON.stringify(recipe.entrypoint)}`,
        `CMD ${JSON.stringify(recipe.cmd)}`,
        '',
      ].join('\n'),
    );
    deps.progress.step(`building ${finalTag} from ${binary}`);
    const id = await deps.runtime.buildImage(
      {
        contextDir: dir,
        files: ['Dockerfile', 'rootfs'],
        tag: finalTag,
        labels: { 'io.vaultctl.component': recipe.name, 'io.vaultctl.version': version },
      },
      (e: ProgressEvent) => deps.progress.debug(e.status),
    );
    deps.progress.done(`built ${finalTag}`);
    return { tag: finalTag, id, version, libraries };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * `buildPrometheusImage`: the Prometheus image of `up --monitoring` from Debian's prometheus
 * (dynamically linked against glibc only).
 */
export function buildPrometheusImage(
  binary: string,
  tag: string | undefined,
  deps: { runtime: ContainerRuntime; progress: Progress },
): Promise<HostImageResult> {
  return buildHostImage(
    {
      name: 'prometheus',
      versionArgs: ['--version'],
      versionPattern: /prometheus, version (\d+\.\d+\.\d+)/,
      target: '/bin/prometheus',
      dirs: ['prometheus', 'etc/prometheus'],
      workdir: '/prometheus',
      entrypoint: ['/bin/prometheus'],
      cmd: ['--config.file=/etc/prometheus/prometheus.yml', '--storage.tsdb.path=/prometheus'],
      installHint: "install Debian's prometheus (bash scripts/setup.sh) or give --binary",
    },
    binary,
    tag,
    deps,
  );
}

/**
 * `buildHaproxyImage`: the image of the cluster's active-node endpoint from Debian's haproxy
 * (OpenSSL, Lua, PCRE2 and the rest that `ldd` names). It runs in the foreground (`-db`) with the
 * configuration `up` mounts at /usr/local/etc/haproxy/haproxy.cfg.
 */
export function buildHaproxyImage(
  binary: string,
  tag: string | undefined,
  deps: { runtime: ContainerRuntime; progress: Progress },
): Promise<HostImageResult> {
  return buildHostImage(
    {
      name: 'haproxy',
      versionArgs: ['-v'],
      versionPattern: /HA-?Proxy version (\d+\.\d+\.\d+)/i,
      target: '/usr/sbin/haproxy',
      dirs: ['usr/local/etc/haproxy', 'var/lib/haproxy', 'run'],
      workdir: '/var/lib/haproxy',
      entrypoint: ['/usr/sbin/haproxy'],
      cmd: ['-db', '-W', '-f', '/usr/local/etc/haproxy/haproxy.cfg'],
      installHint: "install Debian's haproxy (bash scripts/setup.sh) or give --binary",
    },
    binary,
    tag,
    deps,
  );
}

/**
 * `buildBusyboxImage`: the one-shot helper that hands a container's volumes to its unprivileged
 * uid before it is created (volumes made by an earlier release, and new empty ones, belong to
 * root; the server images are FROM scratch, without chown). Debian's busybox-static: one binary.
 */
export function buildBusyboxImage(
  binary: string,
  tag: string | undefined,
  deps: { runtime: ContainerRuntime; progress: Progress },
): Promise<HostImageResult> {
  return buildHostImage(
    {
      name: 'busybox',
      versionArgs: ['--help'],
      versionPattern: /BusyBox v(\d+\.\d+\.\d+)/,
      target: '/bin/busybox',
      dirs: [],
      workdir: '/',
      entrypoint: ['/bin/busybox'],
      cmd: ['true'],
      installHint: "install Debian's busybox-static (bash scripts/setup.sh) or give --binary",
    },
    binary,
    tag,
    deps,
  );
}
