import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { checkBackupHost } from '../agent/preflight.js';
import { UsageError } from '../errors.js';
import { renderPrometheusFiles, renderToDir } from '../lifecycle/render.js';
import { type KubernetesTarget, renderKubernetesToDir } from '../lifecycle/render-kubernetes.js';
import type { CommandDeps, GlobalOptions, SpecFlags } from './command-deps.js';
import { addSpecOptions, loadClusterSpec, output } from './command-deps.js';
import { action } from './flags.js';

export interface RenderOptions extends SpecFlags {
  readonly out?: string;
  readonly target?: string;
}

async function renderPrometheus(
  global: GlobalOptions,
  opts: RenderOptions,
  deps: CommandDeps,
): Promise<number> {
  const { spec, state } = loadClusterSpec(global, opts, deps, 'rendering the Prometheus files');
  const res = renderPrometheusFiles(spec, state, opts.out ? resolve(deps.cwd, opts.out) : undefined, deps);
  output(global, deps)(res, () => {
    const lines: string[] = [];
    lines.push(
      `Rendered Prometheus files for cluster ${spec.name} (${spec.nodes.length} nodes) into ${res.outDir}`,
    );
    for (const f of res.files) lines.push(`  ${f}`);
    lines.push(`Check: promtool check config ${join(res.outDir, 'prometheus.yml')}`);
    lines.push(`Run:   prometheus --config.file=${join(res.outDir, 'prometheus.yml')}`);
    return lines;
  });
  return 0;
}

async function renderKubernetesTarget(
  global: GlobalOptions,
  opts: RenderOptions,
  deps: CommandDeps,
  target: KubernetesTarget,
): Promise<number> {
  const doing = target === 'kubernetes' ? 'rendering the Kubernetes manifests' : 'rendering the Helm values';
  const { spec, state } = loadClusterSpec(global, opts, deps, doing);
  const res = renderKubernetesToDir(spec, state, opts.out ? resolve(deps.cwd, opts.out) : undefined, target);
  output(global, deps)(res, () => [
    `Rendered ${target} for cluster ${spec.name} (${spec.nodes.length} pods) into ${res.outDir}`,
    ...res.files.map((f) => `  ${f}`),
    'Create these Secrets first (referenced by name, never rendered):',
    ...res.secrets.map((s) => `  ${s.name} (keys ${s.keys.join(', ')}): ${s.purpose}`),
    target === 'kubernetes'
      ? `Apply: kubectl apply -f ${res.outDir} (then -f ${join(res.outDir, 'monitoring')} with the Prometheus Operator)`
      : `Install: helm install ${spec.name} openbao/openbao -f ${join(res.outDir, res.files[0]!)}`,
  ]);
  return 0;
}

export async function run(global: GlobalOptions, opts: RenderOptions, deps: CommandDeps): Promise<number> {
  const target = opts.target ?? 'cluster';
  if (target === 'prometheus') return renderPrometheus(global, opts, deps);
  if (target === 'kubernetes' || target === 'helm-values')
    return renderKubernetesTarget(global, opts, deps, target);
  if (target !== 'cluster')
    throw new UsageError(
      'reading --target',
      `unknown target "${target}"`,
      'use --target cluster (node HCL and the compose file), prometheus, kubernetes or helm-values',
    );
  const { spec, state } = loadClusterSpec(global, opts, deps, 'rendering the cluster');
  await checkBackupHost(spec.backup, deps.env, 'rendering the cluster');
  const res = await renderToDir(spec, state, opts.out ? resolve(deps.cwd, opts.out) : undefined, {
    progress: deps.progress,
    runtime: deps.runtime(),
  });
  output(global, deps)({ outDir: res.outDir, files: res.files, changed: res.changed }, () => {
    const lines: string[] = [];
    lines.push(
      `Rendered cluster ${spec.name} (${spec.nodes.length} ${spec.flavor} nodes, ${spec.seal.type} seal) into ${res.outDir}`,
    );
    for (const f of res.files) lines.push(`  ${f}${res.changed.includes(f) ? '' : '  (unchanged)'}`);
    if (opts.out && spec.seal.type === 'static') {
      lines.push(
        'The compose file reads the static seal key from $VAULTCTL_SEAL_KEY_FILE (default ./seal.key next to it).',
      );
    }
    if (opts.out && spec.tls.enabled) {
      lines.push(
        `It reads TLS material from $VAULTCTL_TLS_DIR (default ./tls): export VAULTCTL_TLS_DIR=${res.tlsDir}`,
      );
    }
    return lines;
  });
  return 0;
}

export function register(program: Command, deps: CommandDeps): void {
  const cmd = program
    .command('render')
    .summary(
      'write node HCL and the compose file, Prometheus files, Kubernetes manifests or Helm values from the spec',
    )
    .description(
      'Renders the configuration of every node (HCL) and a docker-compose file for the same containers `vaultctl up` creates. ' +
        'Without --out the files go to the state dir, where `up` uses them. With --target prometheus it writes a scrape ' +
        'configuration for every node and the alert rules, for a Prometheus on this host (default: <state dir>/prometheus). ' +
        'With --target kubernetes it writes the manifests of a StatefulSet cluster, with --target helm-values a values file ' +
        'for the OpenBao Helm chart (default: <state dir>/<target>).\n\n' +
        'Example:\n  $ vaultctl render --out ./rendered && docker-compose -f ./rendered/docker-compose.vault.yml config\n' +
        '  $ vaultctl render --target prometheus --out ./prom && promtool check config ./prom/prometheus.yml\n' +
        '  $ vaultctl render --target kubernetes --out ./k8s && kubectl apply -f ./k8s',
    )
    .option('-o, --out <dir>', 'write into this directory instead of the state dir')
    .option(
      '--target <what>',
      'cluster (node HCL, compose file), prometheus (scrape config, alert rules), kubernetes (manifests) or helm-values',
      'cluster',
    );
  addSpecOptions(cmd).action(
    action(deps.setExitCode, (global, opts: RenderOptions) => run(global, opts, deps)),
  );
}
