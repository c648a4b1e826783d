import type { Command } from 'commander';
import { table } from '../output/format.js';
import { rotateTls } from '../tls/rotate.js';
import type { CommandDeps, GlobalOptions } from './command-deps.js';
import { openManagedCluster, output } from './command-deps.js';
import { action } from './flags.js';
import { locked } from './lock.js';

export async function run(global: GlobalOptions, deps: CommandDeps): Promise<number> {
  const { cluster } = openManagedCluster(global, {}, deps, 'rotating TLS certificates');
  const res = await rotateTls(cluster, { progress: deps.progress, signal: deps.signal });
  deps.progress.stop();
  output(global, deps)(res, () => {
    const lines: string[] = [];
    const short = (fp: string) => `${fp.slice(0, 17)}…`;
    lines.push(
      table(
        ['NODE', 'OLD CERTIFICATE', 'NEW CERTIFICATE', 'LOADED BY'],
        res.nodes.map((n) => [n.name, short(n.before), short(n.after), n.how]),
      ),
    );
    return lines;
  });
  return 0;
}

export function register(program: Command, deps: CommandDeps): void {
  const tls = program.command('tls').summary('TLS certificates of the cluster');
  tls
    .command('rotate')
    .summary('new node certificates from the same CA, loaded node by node without losing quorum')
    .description(
      'Issues new certificates for every node from the cluster CA, then has each node load its own in turn (SIGHUP; a restart ' +
        'when the reload does not take) and waits for a healthy cluster before the next. Clients keep working: the CA is unchanged.\n\n' +
        'Example:\n  $ vaultctl tls rotate',
    )
    .action(
      action(deps.setExitCode, (global, _opts: unknown) =>
        locked(global, deps, 'tls rotate', () => run(global, deps)),
      ),
    );
}
