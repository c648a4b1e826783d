import { resolve } from 'node:path';
import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import {
  buildBusyboxImage,
  buildHaproxyImage,
  buildPrometheusImage,
  DEBIAN_BUSYBOX,
  DEBIAN_HAPROXY,
  DEBIAN_PROMETHEUS,
} from '../image/host-binary.js';
import { buildServerImage } from '../image/image.js';
import { buildMotoImage } from '../image/moto-image.js';
import { type CommandDeps, type GlobalOptions, output } from './command-deps.js';
import { action } from './flags.js';

export interface ImageBuildOptions {
  readonly binary?: string;
  readonly tag?: string;
  readonly prometheus?: boolean;
  readonly haproxy?: boolean;
  /** The volume helper image (a static busybox) that hands volumes to the service uid. */
  readonly busybox?: boolean;
  /** The dev KMS image from a pip --target directory holding moto[server]. */
  readonly moto?: string;
  readonly python?: string;
  /** A KMS plugin binary baked into the server image (its SHA-256 is printed and labelled). */
  readonly kmsPlugin?: string;
  readonly kmsPluginSha256?: string;
}

export async function run(
  global: GlobalOptions,
  opts: ImageBuildOptions,
  deps: CommandDeps,
): Promise<number> {
  if (opts.prometheus && opts.haproxy)
    throw new UsageError(
      'building an image',
      '--prometheus and --haproxy together',
      'build one image at a time',
    );
  if (opts.moto) {
    const res = await buildMotoImage(
      resolve(deps.cwd, opts.moto),
      { ...(opts.python ? { python: opts.python } : {}), ...(opts.tag ? { tag: opts.tag } : {}) },
      { runtime: deps.runtime(), progress: deps.progress },
    );
    output(global, deps)(res, () => {
      const lines: string[] = [];
      lines.push(
        `Built ${res.tag} (moto ${res.motoVersion} on Python ${res.pythonVersion}, ${res.id.replace('sha256:', '').slice(0, 12)}; ${res.packages} package entries, ${res.libraries.length} shared libraries)`,
      );
      lines.push('Use it with: vaultctl up --seal awskms --dev-kms --server-version 2.6.2');
      return lines;
    });
    return 0;
  }
  if (opts.busybox) {
    const res = await buildBusyboxImage(resolve(deps.cwd, opts.binary ?? DEBIAN_BUSYBOX), opts.tag, {
      runtime: deps.runtime(),
      progress: deps.progress,
    });
    output(global, deps)(res, () => [
      `Built ${res.tag} (busybox ${res.version}, ${res.id.replace('sha256:', '').slice(0, 12)})`,
      `Use it with: security.helperImage: ${res.tag} in vaultctl.yaml (the default is vaultctl/busybox:<pinned>)`,
    ]);
    return 0;
  }
  if (opts.haproxy) {
    const res = await buildHaproxyImage(resolve(deps.cwd, opts.binary ?? DEBIAN_HAPROXY), opts.tag, {
      runtime: deps.runtime(),
      progress: deps.progress,
    });
    output(global, deps)(res, () => {
      const lines: string[] = [];
      lines.push(
        `Built ${res.tag} (haproxy ${res.version}, ${res.id.replace('sha256:', '').slice(0, 12)}; ${res.libraries.length} shared libraries copied)`,
      );
      lines.push(
        `Use it with: endpoint.image: ${res.tag} in vaultctl.yaml (up uses it by itself when haproxy:<pinned> is absent)`,
      );
      return lines;
    });
    return 0;
  }
  if (opts.prometheus) {
    const res = await buildPrometheusImage(resolve(deps.cwd, opts.binary ?? DEBIAN_PROMETHEUS), opts.tag, {
      runtime: deps.runtime(),
      progress: deps.progress,
    });
    output(global, deps)(res, () => {
      const lines: string[] = [];
      lines.push(
        `Built ${res.tag} (prometheus ${res.version}, ${res.id.replace('sha256:', '').slice(0, 12)}; ${res.libraries.length} shared libraries copied)`,
      );
      lines.push(`Use it with: vaultctl up --monitoring --monitoring-image ${res.tag}`);
      return lines;
    });
    return 0;
  }
  if (!opts.binary)
    throw new UsageError(
      'building an image',
      'no --binary given',
      'give the server binary: --binary "$(bash scripts/setup.sh --print-bao)", or --prometheus for a Prometheus image',
    );
  const res = await buildServerImage(
    resolve(deps.cwd, opts.binary),
    opts.tag,
    { runtime: deps.runtime(), progress: deps.progress },
    opts.kmsPlugin
      ? {
          kmsPlugin: resolve(deps.cwd, opts.kmsPlugin),
          ...(opts.kmsPluginSha256 ? { kmsPluginSha256: opts.kmsPluginSha256 } : {}),
        }
      : {},
  );
  output(global, deps)(res, () => {
    const lines: string[] = [];
    lines.push(
      `Built ${res.tag} (${res.flavor} ${res.version}, ${res.id.replace('sha256:', '').slice(0, 12)})`,
    );
    lines.push(`Use it with: vaultctl up --image ${res.tag}   (or image: ${res.tag} in vaultctl.yaml)`);
    if (res.kmsPlugin)
      lines.push(
        `KMS plugin ${res.kmsPlugin.command} (sha256 ${res.kmsPlugin.sha256}) in ${res.kmsPlugin.directory}: seal.awskms.plugin: {binary: ${opts.kmsPlugin}, sha256: ${res.kmsPlugin.sha256}}`,
      );
    return lines;
  });
  return 0;
}

export function register(program: Command, deps: CommandDeps): void {
  const image = program.command('image').summary('manage server images');
  image
    .command('build')
    .summary('build a local server image from a static bao or vault binary (or a Prometheus image)')
    .description(
      'Builds a FROM scratch image holding only the given static binary, through the Docker Engine API. ' +
        'For hosts that cannot pull from a registry; clusters then run it exactly as a pulled image.\n\n' +
        "With --prometheus it builds the Prometheus image of `up --monitoring` from Debian's prometheus binary and the " +
        "shared libraries it loads (ldd); with --haproxy the image of the active-node endpoint from Debian's haproxy, the same way.\n\n" +
        'Example:\n  $ vaultctl image build --binary "$(bash scripts/setup.sh --print-bao)" --tag vaultctl/openbao:2.7.2\n' +
        '  $ vaultctl image build --prometheus\n  $ vaultctl image build --haproxy\n  $ vaultctl image build --busybox\n' +
        '  $ vaultctl image build --binary "$(bash scripts/setup.sh --print-bao)" --kms-plugin ./openbao-plugin-kms-aws --kms-plugin-sha256 <hex>\n' +
        '  $ vaultctl image build --moto ~/.cache/vaultctl/moto-5.2.1',
    )
    .option(
      '--binary <path>',
      `static bao or vault executable (ELF); with --prometheus default ${DEBIAN_PROMETHEUS}`,
    )
    .option('--prometheus', 'build a Prometheus image (default tag vaultctl/prometheus:<version>)')
    .option(
      '--busybox',
      `build the volume helper image from ${DEBIAN_BUSYBOX} (Debian's busybox-static; default tag vaultctl/busybox:<version>)`,
    )
    .option(
      '--haproxy',
      `build the endpoint's HAProxy image from ${DEBIAN_HAPROXY} (default tag vaultctl/haproxy:<version>)`,
    )
    .option(
      '--kms-plugin <path>',
      'with --binary: bake this KMS plugin (e.g. openbao-plugin-kms-aws) into the image, for seal.awskms.plugin on OpenBao >= 2.7',
    )
    .option(
      '--kms-plugin-sha256 <hex>',
      "refuse the plugin unless its SHA-256 is this (the release's checksum)",
    )
    .option(
      '--moto <dir>',
      'build the dev KMS image (vaultctl/moto:<version>) from a pip --target dir holding moto[server]',
    )
    .option('--python <path>', 'with --moto: the Python to build it from (default python3)')
    .option('--tag <ref>', 'image tag (default vaultctl/<flavor>:<version>)')
    .action(action(deps.setExitCode, (global, opts: ImageBuildOptions) => run(global, opts, deps)));
}
