/**
 * `buildMotoImage`: the image of the development KMS (moto's server speaking the AWS KMS API), for
 * hosts without a registry. Built from the host's own Python (pyenv's or Debian's) and a pip
 * --target directory holding moto[server]: the interpreter and the shared libraries `ldd` names,
 * its standard library (no tests, no GUI), and only the packages moto_server imported while it
 * answered the KMS calls the awskms seal makes (MOTO_CLOSURE_PY finds them). Every file keeps its
 * host path, so the interpreter finds its standard library as on the host.
 */
import { execFile } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import type { Progress } from '../cluster/events.js';
import { errorMessage, UsageError } from '../errors.js';
import type { ContainerRuntime, ProgressEvent } from '../runtime/port.js';
import { CONTAINER_KMS_PORT } from '../spec/dev-kms-names.js';
import { defaultMotoImage } from '../spec/schema.js';
import { parseLdd } from './host-binary.js';
import { MOTO_CLOSURE_PY } from './moto-closure.js';

const run = promisify(execFile);

/** The interpreter in the image: a symlink to the host path (Python finds its prefix through it). */
export const MOTO_PYTHON = '/bin/python3';
/** Where the kept packages live in the image (PYTHONPATH). */
export const MOTO_SITE = '/opt/moto';
/** Parts of the standard library moto_server never loads. */
const STDLIB_SKIP = new Set([
  'test',
  'idlelib',
  'tkinter',
  'turtledemo',
  'ensurepip',
  'lib2to3',
  'pydoc_data',
  'site-packages',
  'dist-packages',
  'venv',
]);

export interface MotoClosure {
  readonly python: string;
  readonly stdlib: string;
  readonly version: string;
  /** Top-level entries of the target directory to keep. */
  readonly entries: readonly string[];
  /** For moto and botocore/data: the only entries directly inside them that are kept. */
  readonly prune: Readonly<Record<string, readonly string[]>>;
}

export interface MotoImageResult {
  readonly tag: string;
  readonly id: string;
  readonly motoVersion: string;
  readonly pythonVersion: string;
  readonly packages: number;
  readonly libraries: readonly string[];
}

/** Every shared object under dir (extension modules), recursively. */
function sharedObjects(dir: string): string[] {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && /\.so(\.|$)/.test(e.name))
    .map((e) => join(e.parentPath, e.name));
}

/** The moto version the target directory holds, from its dist-info. */
export function motoVersionOf(entries: readonly string[]): string | undefined {
  for (const e of entries) {
    const m = /^moto-(\d+\.\d+\.\d+)\.dist-info$/.exec(e);
    if (m) return m[1];
  }
  return undefined;
}

export async function buildMotoImage(
  target: string,
  opts: { readonly python?: string; readonly tag?: string },
  deps: { runtime: ContainerRuntime; progress: Progress },
): Promise<MotoImageResult> {
  const doing = `building the dev KMS image from ${target}`;
  const hint =
    'bash scripts/setup.sh installs moto[server] into its own pip --target directory and builds it';
  if (!existsSync(join(target, 'moto'))) throw new UsageError(doing, `no moto package in ${target}`, hint);
  const python = opts.python ?? 'python3';
  let closure: MotoClosure;
  try {
    const out = await run(python, ['-S', '-c', MOTO_CLOSURE_PY, target], {
      env: { ...process.env, PYTHONPATH: target, PYTHONDONTWRITEBYTECODE: '1' },
      timeout: 180_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    closure = JSON.parse(out.stdout.trim().split('\n').pop() ?? '') as MotoClosure;
  } catch (err) {
    throw new UsageError(
      doing,
      `moto_server did not answer the KMS calls: ${errorMessage(err).slice(0, 600)}`,
      hint,
    );
  }
  const motoVersion = motoVersionOf(closure.entries);
  if (!motoVersion) throw new UsageError(doing, 'no moto-*.dist-info among the kept packages', hint);

  const libs = new Set<string>();
  for (const bin of [
    closure.python,
    // Tk's extension pulls in X11: moto never loads it.
    ...sharedObjects(closure.stdlib).filter((f) => !/\/_tkinter\./.test(f) && !f.includes('/site-packages/')),
    ...closure.entries.flatMap((e) =>
      e.endsWith('.so') ? [join(target, e)] : sharedObjects(join(target, e)),
    ),
  ]) {
    const out = await run('ldd', [bin], { timeout: 20_000 }).catch(() => ({ stdout: '' }));
    for (const l of parseLdd(out.stdout)) libs.add(l);
  }
  const tag = opts.tag ?? defaultMotoImage();
  await deps.runtime.ping();
  const dir = mkdtempSync(join(tmpdir(), 'vaultctl-moto-'));
  try {
    const root = join(dir, 'rootfs');
    const put = (src: string, dst = src, filter?: (s: string) => boolean) => {
      mkdirSync(join(root, dirname(dst)), { recursive: true });
      cpSync(src, join(root, dst), { recursive: true, dereference: true, ...(filter ? { filter } : {}) });
    };
    put(closure.python);
    for (const l of libs) put(l);
    put(closure.stdlib, closure.stdlib, (s) => {
      const rel = s.slice(closure.stdlib.length + 1).split('/')[0] ?? '';
      return !STDLIB_SKIP.has(rel) && !rel.startsWith('config-');
    });
    const keep = (s: string) => {
      const rel = s.slice(target.length + 1);
      for (const [base, kept] of Object.entries(closure.prune)) {
        if (!rel.startsWith(`${base}/`)) continue;
        const first = rel.slice(base.length + 1).split('/')[0] ?? '';
        return kept.includes(first);
      }
      return true;
    };
    for (const e of closure.entries) put(join(target, e), join(MOTO_SITE, e), keep);
    // A fixed name for the interpreter (python3.11, python3.12, ...): the container spec runs it.
    mkdirSync(join(root, 'bin'), { recursive: true });
    symlinkSync(closure.python, join(root, MOTO_PYTHON.slice(1)));
    mkdirSync(join(root, 'tmp'), { recursive: true });
    chmodSync(join(root, 'tmp'), 0o1777);
    writeFileSync(
      join(dir, 'Dockerfile'),
      [
        `# Built by vaultctl from ${closure.python} (Python ${closure.version}) and moto ${motoVersion}: the dev KMS.`,
        'FROM scratch',
        'COPY rootfs/ /',
        `ENV PYTHONPATH=${MOTO_SITE} PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1`,
        'WORKDIR /tmp',
        `ENTRYPOINT ${JSON.stringify([MOTO_PYTHON, '-S', '-m', 'moto.server'])}`,
        `CMD ${JSON.stringify(['-H', '0.0.0.0', '-p', String(CONTAINER_KMS_PORT)])}`,
        '',
      ].join('\n'),
    );
    deps.progress.step(
      `building ${tag} (moto ${motoVersion}, ${closure.entries.length} entries of ${target})`,
    );
    const id = await deps.runtime.buildImage(
      {
        contextDir: dir,
        files: ['Dockerfile', 'rootfs'],
        tag,
        labels: { 'io.vaultctl.component': 'moto', 'io.vaultctl.version': motoVersion },
      },
      (e: ProgressEvent) => deps.progress.debug(e.status),
    );
    deps.progress.done(`built ${tag}`);
    return {
      tag,
      id,
      motoVersion,
      pythonVersion: closure.version,
      packages: closure.entries.length,
      libraries: [...libs],
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
