import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { checkBackupHost } from '../agent/preflight.js';
import { UsageError } from '../errors.js';
import { renderPrometheusFiles, renderToDir } from '../lifecycle/render.js';
import { json } from '../output/format.js';
import type { CommandDeps, GlobalOptions, SpecFlags } from './context.js';
import { addSpecOptions, loadClusterSpec } from './context.js';

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
  if (global.format === 'json') {
    deps.out(json(res));
  } else {
    deps.out(
      `Rendered Prometheus files for cluster ${spec.name} (${spec.nodes.length} nodes) into ${res.outDir}`,
    );
    for (const f of res.files) deps.out(`  ${f}`);
    deps.out(`Check: promtool check config ${join(res.outDir, 'prometheus.yml')}`);
    deps.out(`Run:   prometheus --config.file=${join(res.outDir, 'prometheus.yml')}`);
  }
  return 0;
}

export async function run(global: GlobalOptions, opts: RenderOptions, deps: CommandDeps): Promise<number> {
  const target = opts.target ?? 'cluster';
  if (target === 'prometheus') return renderPrometheus(global, opts, deps);
  if (target !== 'cluster')
    throw new UsageError(
      'reading --target',
      `unknown target "${target}"`,
      'use --target cluster (node HCL and the compose file) or --target prometheus',
    );
  const { spec, state } = loadClusterSpec(global, opts, deps, 'rendering the cluster');
  await checkBackupHost(spec.backup, deps.env, 'rendering the cluster');
  const res = await renderToDir(spec, state, opts.out ? resolve(deps.cwd, opts.out) : undefined, {
    progress: deps.progress,
    runtime: deps.runtime(),
  });
  if (global.format === 'json') {
    deps.out(json({ outDir: res.outDir, files: res.files, changed: res.changed }));
  } else {
    deps.out(
      `Rendered cluster ${spec.name} (${spec.nodes.length} ${spec.flavor} nodes, ${spec.seal.type} seal) into ${res.outDir}`,
    );
    for (const f of res.files) deps.out(`  ${f}${res.changed.includes(f) ? '' : '  (unchanged)'}`);
    if (opts.out && spec.seal.type === 'static') {
      deps.out(
        'The compose file reads the static seal key from $VAULTCTL_SEAL_KEY_FILE (default ./seal.key next to it).',
      );
    }
    if (opts.out && spec.tls.enabled) {
      deps.out(
        `It reads TLS material from $VAULTCTL_TLS_DIR (default ./tls): export VAULTCTL_TLS_DIR=${res.tlsDir}`,
      );
    }
  }
  return 0;
}

export function register(program: Command, deps: CommandDeps): void {
  const cmd = program
    .command('render')
    .summary('write node HCL and the docker-compose file from the spec')
    .description(
      'Renders the configuration of every node (HCL) and a docker-compose file for the same containers `vaultctl up` creates. ' +
        'Without --out the files go to the state dir, where `up` uses them. With --target prometheus it writes a scrape ' +
        'configuration for every node and the alert rules, for a Prometheus on this host (default: <state dir>/prometheus).\n\n' +
        'Example:\n  $ vaultctl render --out ./rendered && docker-compose -f ./rendered/docker-compose.vault.yml config\n' +
        '  $ vaultctl render --target prometheus --out ./prom && promtool check config ./prom/prometheus.yml',
    )
    .option('-o, --out <dir>', 'write into this directory instead of the state dir')
    .option(
      '--target <what>',
      'cluster (node HCL, compose file) or prometheus (scrape config, alert rules)',
      'cluster',
    );
  addSpecOptions(cmd).action(async (opts: RenderOptions, c: Command) => {
    deps.setExitCode(await run(c.optsWithGlobals() as GlobalOptions, opts, deps));
  });
}
