import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import { json } from '../output/format.js';
import { renderCluster, renderPrometheusForHost } from '../templates/render.js';
import { ensureTls, tlsPaths } from '../tls/tls.js';
import type { CommandDeps, GlobalOptions, SpecFlags } from './context.js';
import { addSpecOptions, loadClusterSpec } from './context.js';

export interface RenderOptions extends SpecFlags {
  readonly out?: string;
  readonly target?: string;
}

/**
 * `render --target prometheus`: a scrape configuration and alert rules for a Prometheus on this
 * host. The files point at the CA and the metrics token in the state dir; nothing secret is copied.
 */
async function renderPrometheus(
  global: GlobalOptions,
  opts: RenderOptions,
  deps: CommandDeps,
): Promise<number> {
  const { spec, state } = loadClusterSpec(global, opts, deps, 'rendering the Prometheus files');
  const outDir = resolve(deps.cwd, opts.out ?? join(state.root, 'prometheus'));
  const files = renderPrometheusForHost(spec, state.root);
  for (const f of files) {
    const path = join(outDir, f.path);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, f.content, { mode: 0o644 });
  }
  const tokenMissing = !spec.telemetry.unauthenticatedMetricsAccess && !existsSync(state.metricsTokenFile);
  if (tokenMissing)
    deps.progress.warn(
      `${state.metricsTokenFile} does not exist yet: \`vaultctl init\` creates the metrics token; until then every target is down`,
    );
  if (global.format === 'json') {
    deps.out(json({ outDir, files: files.map((f) => f.path), metricsTokenFile: state.metricsTokenFile }));
  } else {
    deps.out(
      `Rendered Prometheus files for cluster ${spec.name} (${spec.nodes.length} nodes) into ${outDir}`,
    );
    for (const f of files) deps.out(`  ${f.path}`);
    deps.out(`Check: promtool check config ${join(outDir, 'prometheus.yml')}`);
    deps.out(`Run:   prometheus --config.file=${join(outDir, 'prometheus.yml')}`);
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
  const outDir = opts.out ? resolve(deps.cwd, opts.out) : state.root;
  const rendered = renderCluster(spec, outDir);
  let written: string[];
  if (opts.out) {
    written = [];
    for (const f of rendered.files) {
      const path = join(outDir, f.path);
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, f.content, { mode: 0o644 });
      written.push(f.path);
    }
  } else {
    state.ensure();
    written = state.writeRendered(rendered);
  }
  // The cluster remembers its spec either way: `init`, `health` and `down` use it. TLS material
  // lives in the state dir too; a compose file elsewhere finds it through VAULTCTL_TLS_DIR.
  state.ensure();
  state.saveSpec(spec);
  await ensureTls(spec, state, deps.progress);
  if (global.format === 'json') {
    deps.out(json({ outDir, files: rendered.files.map((f) => f.path), changed: written }));
  } else {
    deps.out(
      `Rendered cluster ${spec.name} (${spec.nodes.length} ${spec.flavor} nodes, ${spec.seal.type} seal) into ${outDir}`,
    );
    for (const f of rendered.files) deps.out(`  ${f.path}${written.includes(f.path) ? '' : '  (unchanged)'}`);
    if (opts.out && spec.seal.type === 'static') {
      deps.out(
        'The compose file reads the static seal key from $VAULTCTL_SEAL_KEY_FILE (default ./seal.key next to it).',
      );
    }
    if (opts.out && spec.tls.enabled) {
      deps.out(
        `It reads TLS material from $VAULTCTL_TLS_DIR (default ./tls): export VAULTCTL_TLS_DIR=${tlsPaths(state).dir}`,
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
