import type { Command } from 'commander';
import { json, table } from '../output/format.js';
import { rotateTls } from '../tls/rotate.js';
import type { CommandDeps, GlobalOptions } from './context.js';
import { openManagedCluster } from './context.js';
import { locked } from './lock.js';

export async function run(global: GlobalOptions, deps: CommandDeps): Promise<number> {
  const { cluster } = openManagedCluster(global, {}, deps, 'rotating TLS certificates');
  const res = await rotateTls(cluster, { progress: deps.progress, signal: deps.signal });
  deps.progress.stop();
  if (global.format === 'json') deps.out(json(res));
  else {
    const short = (fp: string) => `${fp.slice(0, 17)}…`;
    deps.out(
      table(
        ['NODE', 'OLD CERTIFICATE', 'NEW CERTIFICATE', 'LOADED BY'],
        res.nodes.map((n) => [n.name, short(n.before), short(n.after), n.how]),
      ),
    );
  }
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
    .action(async (_opts: unknown, c: Command) => {
      const global = c.optsWithGlobals() as GlobalOptions;
      deps.setExitCode(await locked(global, deps, 'tls rotate', () => run(global, deps)));
    });
}
