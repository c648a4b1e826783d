import type { Command } from 'commander';
import { unsealCluster } from '../bootstrap/unseal.js';
import { UsageError } from '../errors.js';
import { table } from '../output/format.js';
import type { CommandDeps, GlobalOptions } from './command-deps.js';
import { addressTargets, openManagedCluster, output } from './command-deps.js';
import { action } from './flags.js';

export interface UnsealOptions {
  readonly prompt?: boolean;
  readonly addr?: string[];
}

export async function run(global: GlobalOptions, opts: UnsealOptions, deps: CommandDeps): Promise<number> {
  const { spec, state, cluster } = openManagedCluster(global, {}, deps, 'unsealing');
  const targets = opts.addr?.length ? addressTargets(opts.addr) : cluster.nodes;
  const keys = async (): Promise<string[]> => {
    const material = state.readInit();
    if (
      !opts.prompt &&
      material &&
      material.keyKind === 'unseal' &&
      !material.pgp &&
      material.keys.length > 0
    ) {
      return [...material.keys];
    }
    if (!deps.interactive) {
      throw new UsageError(
        'unsealing',
        material
          ? 'the stored key shares cannot be used (PGP-encrypted or recovery keys)'
          : `no key shares in ${state.initFile}`,
        'run `vaultctl unseal --prompt` in a terminal and type the shares (they are not echoed)',
      );
    }
    deps.progress.stop();
    const typed: string[] = [];
    for (let i = 1; ; i++) {
      const k = (await deps.prompt(`Unseal key share ${i} (empty line to finish): `, true)).trim();
      if (!k) break;
      typed.push(k);
    }
    return typed;
  };
  const res = await unsealCluster(targets, {
    progress: deps.progress,
    keys,
    connect: cluster.connector,
    signal: deps.signal,
    tls: cluster.tls,
  });
  deps.progress.stop();
  const allUnsealed = res.every((r) => r.after === 'unsealed');
  output(global, deps)({ cluster: spec.name, nodes: res }, () => {
    const lines: string[] = [];
    lines.push(
      table(
        ['NODE', 'BEFORE', 'AFTER'],
        res.map((r) => [r.name, r.before, r.after]),
      ),
    );
    return lines;
  });
  return allUnsealed ? 0 : 2;
}

export function register(program: Command, deps: CommandDeps): void {
  program
    .command('unseal')
    .summary('unseal every sealed node (Shamir) from stored or typed key shares')
    .description(
      'Submits key shares to every sealed node: the shares stored in the state dir by `init`, or shares typed in with --prompt ' +
        '(not echoed; never taken from argv). Nodes with an auto-unseal seal are only waited for. Exit 0 when every node is unsealed, 2 otherwise.\n\n' +
        'Example:\n  $ vaultctl unseal\n  $ vaultctl unseal --prompt',
    )
    .option('--prompt', 'type the key shares instead of using the stored ones')
    .option('--addr <url...>', 'node addresses (default: the nodes of the cluster spec)')
    .action(action(deps.setExitCode, (global, opts: UnsealOptions) => run(global, opts, deps)));
}
