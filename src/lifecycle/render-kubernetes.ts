/**
 * `vaultctl render --target kubernetes|helm-values` as a use case: the manifests (or the Helm values
 * file) written into a directory, 0644. Nothing secret is written: the Secrets the manifests name
 * are listed for the user to create.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ClusterSpec } from '../spec/schema.js';
import type { StateDir } from '../state/state-dir.js';
import { HELM_VALUES_FILE, renderHelmValues } from '../templates/helm-values.js';
import { renderKubernetes, requiredSecrets } from '../templates/kubernetes.js';
import type { RenderedFile } from '../templates/rendered.js';

export type KubernetesTarget = 'kubernetes' | 'helm-values';

export interface KubernetesRenderResult {
  readonly outDir: string;
  /** Every written file, relative to outDir. */
  readonly files: readonly string[];
  /** The Secrets the manifests reference by name, for the user to create before applying. */
  readonly secrets: ReturnType<typeof requiredSecrets>;
}

/** Renders everything first, so a spec that cannot be rendered leaves no file behind. */
export function renderKubernetesToDir(
  spec: ClusterSpec,
  state: StateDir,
  outDir: string | undefined,
  target: KubernetesTarget,
): KubernetesRenderResult {
  const dir = outDir ?? join(state.root, target);
  const files: RenderedFile[] =
    target === 'kubernetes'
      ? renderKubernetes(spec)
      : [{ path: HELM_VALUES_FILE, content: renderHelmValues(spec) }];
  for (const f of files) {
    const path = join(dir, f.path);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, f.content, { mode: 0o644 });
  }
  return { outDir: dir, files: files.map((f) => f.path), secrets: requiredSecrets(spec) };
}
