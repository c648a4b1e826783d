/**
 * The helper image of `vaultctl audit rotate`: the same static busybox image that hands volumes to
 * the service uid (`security.helperImage`, built by `image build --busybox`). The node images are
 * FROM scratch with only the server binary, so renaming, compressing and removing audit files in a
 * node's audit volume is done by a throwaway container of this image that mounts the volume, run
 * as root so that it works whoever owns the files (the compressed file gets the owner and mode of
 * the file it replaces). Built locally by `scripts/setup.sh`, or here on first use.
 */
import { UsageError } from '../errors.js';
import { buildBusyboxImage, DEBIAN_BUSYBOX } from '../image/host-binary.js';
import type { ContainerRuntime } from '../runtime/port.js';
import { defaultHelperImage } from '../spec/security-schema.js';

export const TOOLBOX_IMAGE = defaultHelperImage();

const quiet = { step() {}, done() {}, info() {}, warn() {}, debug() {} };

/** Builds the helper image when it is absent; returns its tag. */
export async function ensureToolboxImage(
  runtime: ContainerRuntime,
  binary: string = DEBIAN_BUSYBOX,
  image: string = TOOLBOX_IMAGE,
): Promise<string> {
  if (await runtime.imageExists(image)) return image;
  try {
    await buildBusyboxImage(binary, image, { runtime, progress: quiet });
  } catch (err) {
    throw new UsageError(
      `building the audit helper image ${image}`,
      (err as Error).message,
      "install Debian's busybox-static (bash scripts/setup.sh does), or vaultctl image build --busybox",
    );
  }
  return image;
}
