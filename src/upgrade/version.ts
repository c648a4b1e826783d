/**
 * Server versions: what an image's binary says it is, and how two versions compare. The binary is
 * asked first (`bao version` in a throwaway container): a tag or a label can lie, the binary cannot.
 */
import { UsageError } from '../errors.js';
import type { ContainerRuntime } from '../runtime/port.js';
import type { Flavor } from '../spec/schema.js';

/** The label `vaultctl image build` puts on the images it makes. */
export const VERSION_LABEL = 'io.vaultctl.version';

/** "2.7.2" from "OpenBao v2.7.2 (abc), built ..." or "Vault v1.18.0"; undefined when absent. */
export function versionFromOutput(out: string): string | undefined {
  return /(?:OpenBao|Vault) v(\d+\.\d+\.\d+)/.exec(out)?.[1];
}

export interface ImageVersion {
  readonly version: string;
  /** Where the version came from: the binary, or the image label when the binary could not say. */
  readonly source: 'binary' | 'label';
}

/**
 * Reads the server version of `image`: `bao version` (or `vault version`) in a throwaway
 * container, else the image's io.vaultctl.version label. Refuses when neither says.
 */
export async function readImageVersion(
  runtime: ContainerRuntime,
  image: string,
  flavor: Flavor,
): Promise<ImageVersion> {
  const binary = flavor === 'openbao' ? 'bao' : 'vault';
  let why = '';
  try {
    const run = await runtime.runImage(image, [binary], ['version'], 30_000);
    const v = versionFromOutput(run.output);
    if (run.exitCode === 0 && v) return { version: v, source: 'binary' };
    why = `\`${binary} version\` exited ${run.exitCode}: ${run.output.trim().slice(0, 120) || '(no output)'}`;
  } catch (err) {
    why = `\`${binary} version\` could not run: ${(err as Error).message}`;
  }
  const label = (await runtime.imageLabels(image))?.[VERSION_LABEL];
  if (label && /^\d+\.\d+\.\d+/.test(label)) return { version: label, source: 'label' };
  throw new UsageError(
    `reading the server version of ${image}`,
    `${why}; the image has no ${VERSION_LABEL} label either`,
    `the image must hold the ${binary} binary on its PATH (vaultctl image build makes such images)`,
  );
}
