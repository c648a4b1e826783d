import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { renderCluster } from '../cluster/render.js';
import { ensureTls, tlsPaths } from '../cluster/tls.js';
import { json } from '../output/format.js';
import type { CommandDeps, GlobalOptions, SpecFlags } from './context.js';
import { addSpecOptions, loadClusterSpec } from './context.js';

export interface RenderOptions extends SpecFlags {
  readonly out?: string;
}

export async function run(global: GlobalOptions, opts: RenderOptions, deps: CommandDeps): Promise<number> {
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
        'Without --out the files go to the state dir, where `up` uses them.\n\n' +
        'Example:\n  $ vaultctl render --out ./rendered && docker-compose -f ./rendered/docker-compose.vault.yml config',
    )
    .option('-o, --out <dir>', 'write into this directory instead of the state dir');
  addSpecOptions(cmd).action(async (opts: RenderOptions, c: Command) => {
    deps.setExitCode(await run(c.optsWithGlobals() as GlobalOptions, opts, deps));
  });
}
