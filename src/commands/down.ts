import type { Command } from 'commander';
import { downCluster } from '../lifecycle/down.js';
import type { CommandDeps, GlobalOptions } from './command-deps.js';
import { confirm, loadClusterSpec, output } from './command-deps.js';
import { action } from './flags.js';
import { locked } from './lock.js';

export interface DownOptions {
  readonly volumes?: boolean;
  readonly purge?: boolean;
  readonly yes?: boolean;
}

export async function run(global: GlobalOptions, opts: DownOptions, deps: CommandDeps): Promise<number> {
  const { spec, state } = loadClusterSpec(global, {}, deps, 'taking the cluster down');
  const runtime = deps.runtime();
  const doing = `taking cluster ${spec.name} down`;
  const options = { volumes: opts.volumes ?? false, purge: opts.purge ?? false };
  // Refusals (e.g. --purge that would orphan the data volumes) come before any question.
  await downCluster(spec.name, state, { runtime, progress: deps.progress }, { ...options, dryRun: true });
  if (opts.volumes)
    await confirm(
      deps,
      `Remove the data and audit-log volumes of cluster ${spec.name}? All secrets in it are lost.`,
      opts.yes,
      doing,
    );
  if (opts.purge)
    await confirm(
      deps,
      `Remove the state dir ${state.root}, with the key shares and root token?`,
      opts.yes,
      doing,
    );
  const res = await downCluster(spec.name, state, { runtime, progress: deps.progress }, options);
  deps.progress.stop();
  output(global, deps)({ cluster: spec.name, ...res }, () => {
    const lines: string[] = [];
    lines.push(
      `Cluster ${spec.name}: removed ${res.containers.length} container(s), ${res.networks.length} network(s), ${res.volumes.length} volume(s).`,
    );
    if (res.keptVolumes.length > 0)
      lines.push(
        `Kept ${res.keptVolumes.length} volume(s) with the data; \`vaultctl up\` brings the cluster back. Remove them with --volumes.`,
      );
    if (res.purged) lines.push(`Removed the state dir ${res.purged}.`);
    else if (state.exists()) lines.push(`Kept the state dir ${state.root} (keys); remove it with --purge.`);
    return lines;
  });
  return 0;
}

export function register(program: Command, deps: CommandDeps): void {
  program
    .command('down')
    .summary('remove containers and network; volumes and keys only when asked')
    .description(
      'Removes the containers and the network of the cluster. Data volumes go only with --volumes, the state dir (key shares, ' +
        'root token, seal key) only with --purge; each asks for confirmation unless --yes, and is refused without a terminal and without --yes.\n\n' +
        'Example:\n  $ vaultctl down\n  $ vaultctl down --volumes --purge --yes',
    )
    .option('--volumes', 'also remove the data and log volumes (all secrets)')
    .option('--purge', 'also remove the state dir (keys!)')
    .option('-y, --yes', 'do not ask for confirmation')
    .action(
      action(deps.setExitCode, (global, opts: DownOptions) =>
        locked(global, deps, 'down', () => run(global, opts, deps)),
      ),
    );
}
