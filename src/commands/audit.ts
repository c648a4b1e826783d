import type { Command } from 'commander';
import { Option } from 'commander';
import { rotateAudit } from '../audit/rotate.js';
import { table } from '../output/format.js';
import type { CommandDeps, GlobalOptions } from './command-deps.js';
import { openManagedCluster, output } from './command-deps.js';
import { action } from './flags.js';

interface RotateOpts {
  readonly force?: boolean;
  readonly node?: string[];
}

export async function runRotate(global: GlobalOptions, opts: RotateOpts, deps: CommandDeps): Promise<number> {
  const doing = 'rotating the audit logs';
  const { cluster } = openManagedCluster(global, {}, deps, doing);
  deps.progress.step('rotating the audit logs node by node (rename, SIGHUP, compress)');
  const res = await rotateAudit(cluster, deps.runtime(), {
    signal: deps.signal,
    ...(opts.force ? { force: true } : {}),
    ...(opts.node?.length ? { nodes: opts.node } : {}),
  });
  deps.progress.stop();
  output(global, deps)({ nodes: res }, () =>
    table(
      ['NODE', 'ROTATED', 'WHY', 'REMOVED'],
      res.map((r) => [r.node, r.rotated ?? '-', r.reason, String(r.removed.length)]),
    ),
  );
  return 0;
}

export function register(program: Command, deps: CommandDeps): void {
  const audit = program.command('audit').summary("the nodes' audit logs");
  audit
    .command('rotate')
    .summary('rotate the file audit logs without a restart and without losing a line; apply retention')
    .description(
      'Per node: when the live audit file reached audit.rotateSize or its first entry is older than audit.rotateAge, renames it, ' +
        'has the node reopen its file (SIGHUP, waiting for its "reloading file audit backend" line), compresses the renamed file ' +
        '(gzip) and removes compressed files beyond audit.keep or older than audit.retention (default 90d). The files are ' +
        "handled in the node's audit volume by a throwaway helper container (vaultctl/busybox, built from Debian's busybox-static).\n\n" +
        'Example:\n  $ vaultctl audit rotate\n  $ vaultctl audit rotate --force --node vault-1',
    )
    .addOption(new Option('--force', 'rotate every non-empty live file, due or not').helpGroup('Command:'))
    .addOption(new Option('--node <name...>', 'only these nodes (repeatable)').helpGroup('Command:'))
    .action(action(deps.setExitCode, (global, opts: RotateOpts) => runRotate(global, opts, deps)));
}
