/**
 * The audit helper image: Debian's static busybox on an otherwise empty root. The node images are
 * FROM scratch with only the server binary, so renaming, compressing and removing audit files in a
 * node's audit volume is done by a throwaway container of this image that mounts the volume, run
 * as root so that it works whoever owns the files (the compressed file gets the owner and mode of
 * the file it replaces). Built locally, like the other images, by `scripts/setup.sh` or on first use.
 */
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '../errors.js';
import { inspectElf } from '../image/image.js';
import type { ContainerRuntime } from '../runtime/port.js';

/** Debian 12's busybox-static. */
export const TOOLBOX_VERSION = '1.35.0';
export const TOOLBOX_IMAGE = `vaultctl/toolbox:${TOOLBOX_VERSION}`;
export const BUSYBOX_BINARY = '/bin/busybox';

/** Builds the helper image when it is absent; returns its tag. */
export async function ensureToolboxImage(
  runtime: ContainerRuntime,
  binary: string = BUSYBOX_BINARY,
): Promise<string> {
  if (await runtime.imageExists(TOOLBOX_IMAGE)) return TOOLBOX_IMAGE;
  let elf: ReturnType<typeof inspectElf>;
  try {
    elf = inspectElf(binary);
  } catch {
    throw new UsageError(
      `building the audit helper image ${TOOLBOX_IMAGE}`,
      `${binary} is missing`,
      "install Debian's busybox-static (bash scripts/setup.sh does)",
    );
  }
  if (!elf.elf || !elf.static)
    throw new UsageError(
      `building the audit helper image ${TOOLBOX_IMAGE}`,
      `${binary} is not a static binary`,
      "install Debian's busybox-static, whose /bin/busybox is static",
    );
  const dir = mkdtempSync(join(tmpdir(), 'vaultctl-toolbox-'));
  try {
    copyFileSync(binary, join(dir, 'busybox'));
    chmodSync(join(dir, 'busybox'), 0o755);
    mkdirSync(join(dir, 'tmp'));
    chmodSync(join(dir, 'tmp'), 0o1777);
    writeFileSync(
      join(dir, 'Dockerfile'),
      [
        '# Built by vaultctl: the audit helper (rotation of audit files in a node volume).',
        'FROM scratch',
        'COPY busybox /bin/busybox',
        'COPY tmp /tmp',
        // busybox's shell runs its own applets (mv, gzip, stat) without links on PATH.
        'ENTRYPOINT ["/bin/busybox"]',
        '',
      ].join('\n'),
    );
    await runtime.buildImage({
      contextDir: dir,
      files: ['Dockerfile', 'busybox', 'tmp'],
      tag: TOOLBOX_IMAGE,
      labels: { 'io.vaultctl.kind': 'toolbox', 'io.vaultctl.version': TOOLBOX_VERSION },
    });
    return TOOLBOX_IMAGE;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
