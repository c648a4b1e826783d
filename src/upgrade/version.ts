/**
 * Server versions: what an image's binary says it is, and how two versions compare. The binary is
 * asked first (`bao version` in a throwaway container): a tag or a label can lie, the binary cannot.
 */
import { errorMessage, UsageError } from '../errors.js';
import type { ContainerRuntime } from '../runtime/port.js';
import type { Flavor } from '../spec/schema.js';

/** "2.7.2" from "OpenBao v2.7.2 (abc), built ..." or "Vault v1.18.0"; undefined when absent. */
export function versionFromOutput(out: string, flavor?: Flavor): string | undefined {
  const name = flavor === undefined ? '(?:OpenBao|Vault)' : FLAVOR_NAMES[flavor];
  return new RegExp(`${name} v(\\d+\\.\\d+\\.\\d+)`).exec(out)?.[1];
}

/** How each flavor's binary names itself in `version`, and how a refusal names its image. */
const FLAVOR_NAMES: Record<Flavor, string> = { openbao: 'OpenBao', vault: 'Vault' };

export interface ImageVersion {
  readonly version: string;
  /** Where the version came from: always the image's own binary (a label can lie). */
  readonly source: 'binary';
}

/** Docker's answers when the entrypoint is not in the image (it is not a server image). */
const NO_BINARY =
  /executable file not found|no such file or directory|exec format error|not found in \$PATH/i;

/**
 * Reads the server version of `image` from its own binary: `bao version` (or `vault version`) in a
 * throwaway container. Refuses (nothing touched) an image whose binary is missing or does not
 * call itself the flavor's server: a label says nothing about what the image runs (issue 26: a
 * moto image labelled 5.2.1 passed as an OpenBao upgrade and took a node down).
 */
export async function readImageVersion(
  runtime: ContainerRuntime,
  image: string,
  flavor: Flavor,
): Promise<ImageVersion> {
  const binary = flavor === 'openbao' ? 'bao' : 'vault';
  const name = FLAVOR_NAMES[flavor];
  let why: string;
  try {
    const run = await runtime.runImage(image, [binary], ['version'], 30_000);
    const v = versionFromOutput(run.output, flavor);
    if (run.exitCode === 0 && v) return { version: v, source: 'binary' };
    why = `\`${binary} version\` exited ${run.exitCode} without naming an ${name} version: ${run.output.trim().slice(0, 120) || '(no output)'}`;
  } catch (err) {
    const message = errorMessage(err);
    if (!NO_BINARY.test(message)) throw err;
    why = `it has no \`${binary}\` binary (${/exec: "[^"]*": [^:]+/.exec(message)?.[0] ?? message.slice(0, 160)})`;
  }
  throw new UsageError(
    'refusing the upgrade',
    `${image} is not an ${name} server image: ${why}`,
    `nothing was touched; give an ${name} server image (${flavor === 'openbao' ? 'openbao/openbao:<version>, or vaultctl/openbao:<version> from vaultctl image build' : 'hashicorp/vault:<version>'}), or --server-version`,
  );
}
