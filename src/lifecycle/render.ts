/**
 * `vaultctl render` as use cases: the cluster's files (node HCL, the compose file) written to the
 * state dir or a directory of the user's, and the files for a Prometheus on this host.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Progress } from '../cluster/events.js';
import type { ContainerRuntime } from '../runtime/port.js';
import type { ClusterSpec } from '../spec/schema.js';
import type { StateDir } from '../state/state-dir.js';
import { renderCluster, renderPrometheusForHost } from '../templates/render.js';
import type { RenderedFile } from '../templates/rendered.js';
import { ensureTls, tlsPaths } from '../tls/tls.js';
import { preferLocalImages } from './images.js';

export interface RenderToDirResult {
  readonly outDir: string;
  /** Every rendered file, relative to outDir. */
  readonly files: readonly string[];
  /** The files written now; into the state dir, an unchanged file is left alone. */
  readonly changed: readonly string[];
  /** Where the compose file's containers find the TLS material (VAULTCTL_TLS_DIR). */
  readonly tlsDir: string;
}

/** True when the runtime answers within 2 s (render works without one). */
async function answers(runtime: ContainerRuntime): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((r) => {
    timer = setTimeout(() => r(false), 2000);
  });
  try {
    return await Promise.race([
      runtime.ping().then(
        () => true,
        () => false,
      ),
      late,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Written as they are, 0644: docker-compose and Prometheus read them, no state-dir rules apply. */
function writePlain(outDir: string, files: readonly RenderedFile[]): string[] {
  for (const f of files) {
    const path = join(outDir, f.path);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, f.content, { mode: 0o644 });
  }
  return files.map((f) => f.path);
}

/**
 * Renders the cluster's files into `outDir` (absolute), or into the state dir where `up` uses
 * them when it is absent. Either way the state dir remembers the spec, since `init`, `health` and
 * `down` read it, and holds the TLS material, which a compose file elsewhere finds through
 * VAULTCTL_TLS_DIR.
 */
export async function renderToDir(
  requested: ClusterSpec,
  state: StateDir,
  outDir: string | undefined,
  deps: { readonly progress: Progress; readonly runtime?: ContainerRuntime },
): Promise<RenderToDirResult> {
  const dir = outDir ?? state.root;
  // The same images `up` would run (locally built ones where the upstream defaults are absent),
  // when a Docker Engine answers; without one, the spec's images as they are.
  const runtime = deps.runtime;
  const spec =
    runtime && (await answers(runtime))
      ? await preferLocalImages(requested, { runtime, progress: deps.progress })
      : requested;
  const rendered = renderCluster(spec, dir);
  let changed: string[];
  if (outDir) changed = writePlain(outDir, rendered.files);
  else {
    state.ensure();
    changed = state.writeRendered(rendered);
  }
  state.ensure();
  state.saveSpec(spec);
  await ensureTls(spec, state, deps.progress);
  return { outDir: dir, files: rendered.files.map((f) => f.path), changed, tlsDir: tlsPaths(state).dir };
}

export interface PrometheusFilesResult {
  readonly outDir: string;
  readonly files: readonly string[];
  /** The scrape configuration reads the metrics token from here, in place. */
  readonly metricsTokenFile: string;
}

/**
 * Writes a scrape configuration and the alert rules for a Prometheus on this host into `outDir`
 * (default: <state dir>/prometheus). The files point at the CA and the metrics token in the state
 * dir; nothing secret is copied. Warns when the metrics token does not exist yet.
 */
export function renderPrometheusFiles(
  spec: ClusterSpec,
  state: StateDir,
  outDir: string | undefined,
  deps: { readonly progress: Progress },
): PrometheusFilesResult {
  const dir = outDir ?? join(state.root, 'prometheus');
  const files = writePlain(dir, renderPrometheusForHost(spec, state.root));
  const tokenMissing = !spec.telemetry.unauthenticatedMetricsAccess && !existsSync(state.metricsTokenFile);
  if (tokenMissing)
    deps.progress.warn(
      `${state.metricsTokenFile} does not exist yet: \`vaultctl init\` creates the metrics token; until then every target is down`,
    );
  return { outDir: dir, files, metricsTokenFile: state.metricsTokenFile };
}
