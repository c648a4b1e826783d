import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import { table } from '../output/format.js';
import { migrateSeal } from '../seal/migrate.js';
import type { SealType } from '../spec/schema.js';
import type { CommandDeps, GlobalOptions } from './command-deps.js';
import { confirm, openManagedCluster, output } from './command-deps.js';
import { action } from './flags.js';
import { locked } from './lock.js';

const TARGETS: readonly SealType[] = ['transit', 'awskms', 'shamir', 'static'];

export interface SealMigrateOptions {
  readonly to: string;
  readonly dryRun?: boolean;
  readonly yes?: boolean;
  readonly snapshotDir?: string;
}

export async function runMigrate(
  global: GlobalOptions,
  opts: SealMigrateOptions,
  deps: CommandDeps,
): Promise<number> {
  const doing = 'migrating the seal';
  if (!TARGETS.includes(opts.to as SealType))
    throw new UsageError(doing, `unknown seal "${opts.to}"`, `--to takes one of ${TARGETS.join(', ')}`);
  const to = opts.to as SealType;
  const { spec, cluster } = openManagedCluster(global, {}, deps, doing);
  const runtime = deps.runtime();
  const base = { runtime, progress: deps.progress, signal: deps.signal, env: deps.env };
  // The refusals and the plan come before the question: a refused migration asks nothing.
  const plan = await migrateSeal(cluster, base, { to, dryRun: true });
  if (!opts.dryRun)
    await confirm(
      deps,
      `Migrate cluster ${spec.name} from the ${plan.from} seal to ${plan.to}, restarting every node twice?`,
      opts.yes,
      doing,
      { action: 'this restarts every node', undone: 'nothing was changed' },
    );
  const res = opts.dryRun
    ? plan
    : await migrateSeal(cluster, base, {
        to,
        ...(opts.snapshotDir ? { snapshotDir: opts.snapshotDir } : {}),
      });
  deps.progress.stop();
  output(global, deps)(res, () => {
    const lines: string[] = [];
    lines.push(
      res.dryRun
        ? `Plan: migrate ${res.cluster} from the ${res.from} seal to ${res.to}${res.resumed ? ' (continuing an interrupted migration)' : ''}.`
        : `Cluster ${res.cluster} now uses the ${res.to} seal (was ${res.from}).`,
    );
    if (res.dryRun) lines.push('  1. snapshot (into <state dir>/snapshots, or --snapshot-dir)');
    lines.push(
      table(
        ['STEP', 'NODE', 'WHAT'],
        res.steps.map((s, i) => [
          String(i + (res.dryRun ? 2 : 1)),
          s.node,
          `${s.stepDown ? 'step down, then ' : ''}${s.direct ? 'restart on the new seal alone' : 'restart with the old seal disabled beside the new one, unseal -migrate'}`,
        ]),
      ),
    );
    if (res.snapshot) lines.push(`Snapshot: ${res.snapshot}`);
    if (!res.dryRun)
      lines.push(
        `The state dir records the ${res.to} seal; its key shares are ${res.keyKind} keys. A snapshot from before the migration restores only into a cluster on the ${res.from} seal.`,
      );
    return lines;
  });
  return 0;
}

export function register(program: Command, deps: CommandDeps): void {
  const seal = program.command('seal').summary('the seal of a running cluster: migrate');
  seal
    .command('migrate')
    .summary('migrate a running cluster to another seal, node by node')
    .description(
      'The documented seal migration for an HA Raft cluster: a snapshot first, then each standby and the active node last ' +
        '(after a step-down) restarts with the old seal disabled beside the new one and is unsealed with -migrate (recovery ' +
        'keys from an auto seal, unseal keys from Shamir); then each node restarts without the old seal. Resumable: a rerun ' +
        'continues from the journal in the state dir. Refuses (exit 1, nothing touched) the same seal, a cluster that is not ' +
        'healthy, missing key shares, and a seal the server version does not have. Exit 0 done, 1 refused, 2 a node failed.\n\n' +
        'Example:\n  $ vaultctl seal migrate --to transit --dry-run\n  $ vaultctl seal migrate --to transit --yes',
    )
    .requiredOption('--to <seal>', `the new seal: ${TARGETS.join(', ')}`)
    .option('--dry-run', 'show the plan; change nothing')
    .option('--yes', 'do not ask for confirmation')
    .option('--snapshot-dir <dir>', 'where the snapshot taken first goes (default <state dir>/snapshots)')
    .action(
      action(deps.setExitCode, (global, opts: SealMigrateOptions) =>
        locked(global, deps, 'seal migrate', () => runMigrate(global, opts, deps), opts),
      ),
    );
}
