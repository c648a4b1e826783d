import { resolve } from 'node:path';
import type { Command } from 'commander';
import { CheckFailedError, ExitCode, UsageError } from '../errors.js';
import { table } from '../output/format.js';
import type { UpgradeTarget } from '../upgrade/preflight.js';
import { type UpgradeResult, upgradeCluster } from '../upgrade/upgrade.js';
import type { CommandDeps, GlobalOptions } from './command-deps.js';
import { confirm, openManagedCluster, output } from './command-deps.js';
import { action, durationFlag, numberFlag } from './flags.js';
import { locked } from './lock.js';

export interface UpgradeCommandOptions {
  readonly image?: string;
  readonly serverVersion?: string;
  readonly dryRun?: boolean;
  readonly yes?: boolean;
  /** commander's `--no-traffic`: false turns the writer off. */
  readonly traffic?: boolean;
  readonly rate: string;
  readonly snapshotDir?: string;
  readonly nodeTimeout: string;
}

export function parseTarget(opts: Pick<UpgradeCommandOptions, 'image' | 'serverVersion'>): UpgradeTarget {
  if (opts.image && opts.serverVersion)
    throw new UsageError(
      'reading the upgrade target',
      'both --image and --server-version given',
      'give one of them',
    );
  if (opts.image) return { image: opts.image };
  if (opts.serverVersion) {
    if (!/^\d+\.\d+\.\d+$/.test(opts.serverVersion))
      throw new UsageError(
        'reading --server-version',
        `"${opts.serverVersion}" is not a server version`,
        'give a version such as 2.7.2',
      );
    return { version: opts.serverVersion };
  }
  throw new UsageError(
    'reading the upgrade target',
    'no target given',
    'give --image REF or --server-version V, e.g. vaultctl upgrade --server-version 2.7.2',
  );
}

const secs = (ms: number | null) => (ms === null ? '-' : (ms / 1000).toFixed(2));

function render(r: UpgradeResult): string[] {
  const lines: string[] = [];
  const from = [...new Set(r.before.map((n) => n.version ?? '?'))].join(', ');
  lines.push(
    `Cluster ${r.cluster}: ${from} -> ${r.target.version} (image ${r.target.image}, version read from its ${r.target.versionSource})`,
  );
  if (r.outcome === 'nothing-to-do') {
    lines.push(`Nothing to do: every node runs ${r.target.version}.`);
    return lines;
  }
  if (r.outcome === 'planned') {
    lines.push('Plan (dry run, nothing changed):');
    lines.push('  - preflight: cluster and autopilot healthy, failure tolerance >= 1 (checked: ok)');
    lines.push(`  - save a snapshot (before any node is touched)`);
    r.plan.forEach((s, i) => {
      lines.push(`  ${i + 1}. ${s.kind}${'node' in s ? ` ${s.node}` : ''}: ${s.reason}`);
    });
    const skipped = r.before.filter((n) => n.upgraded).map((n) => n.name);
    if (skipped.length) lines.push(`  (already on the target, skipped: ${skipped.join(', ')})`);
    return lines;
  }
  lines.push(`Snapshot: ${r.snapshot}`);
  lines.push(
    table(
      ['STEP', 'ACTION', 'NODE', 'TIME S', 'LONGEST GAP S', 'DETAIL'],
      r.steps.map((s, i) => [
        String(i + 1),
        s.action,
        s.node ?? '-',
        secs(s.ms),
        secs(s.longestAckGapMs),
        s.detail ?? '',
      ]),
    ),
  );
  if (r.traffic) {
    const t = r.traffic;
    lines.push(
      `Writes: ${t.sent} sent, ${t.acked} acknowledged, ${t.failed} failed, ${t.lost} lost; longest gap between acknowledgements ${secs(t.longestAckGapMs)} s`,
    );
  } else lines.push('Writes: none (--no-traffic)');
  lines.push(`Nodes: ${r.after.map((n) => `${n.name} ${n.version ?? '?'}`).join(', ')}`);
  lines.push(`Total: ${secs(r.totalMs)} s`);
  return lines;
}

export async function run(
  global: GlobalOptions,
  opts: UpgradeCommandOptions,
  deps: CommandDeps,
): Promise<number> {
  const doing = 'upgrading the cluster';
  const target = parseTarget(opts);
  const rate = numberFlag(opts.rate, 'rate', 1, 1000);
  const nodeTimeoutMs = durationFlag(opts.nodeTimeout, 'node-timeout');
  const { spec, cluster } = openManagedCluster(global, {}, deps, doing);
  if (!opts.dryRun) {
    const to = 'image' in target ? `image ${target.image}` : `server version ${target.version}`;
    await confirm(
      deps,
      `This recreates every node of cluster ${spec.name} with ${to}, one at a time${opts.traffic === false ? '' : ', under live writes'}. Continue?`,
      opts.yes,
      doing,
      { action: `the upgrade recreates the nodes of cluster ${spec.name}`, undone: 'nothing was done' },
    );
  }
  const res = await upgradeCluster(
    target,
    { cluster, runtime: deps.runtime(), progress: deps.progress, signal: deps.signal },
    {
      dryRun: opts.dryRun ?? false,
      traffic: opts.traffic !== false,
      rate,
      nodeTimeoutMs,
      ...(opts.snapshotDir ? { snapshotDir: resolve(deps.cwd, opts.snapshotDir) } : {}),
    },
  );
  deps.progress.stop();
  output(global, deps)(res, () => {
    const lines: string[] = [];
    for (const l of render(res)) lines.push(l);
    return lines;
  });
  if (res.traffic && res.traffic.lost > 0)
    throw new CheckFailedError(doing, [`${res.traffic.lost} acknowledged write(s) lost`]);
  return ExitCode.ok;
}

export function register(program: Command, deps: CommandDeps): void {
  program
    .command('upgrade')
    .summary('rolling server upgrade under live writes: standbys first, the leader last')
    .description(
      'Upgrades every node to a new server image, one at a time, while the cluster keeps serving. Preflight, before any ' +
        'node is touched: the target spec is validated (the saved spec with the new image), the target version is read from ' +
        "the image's binary, a downgrade is refused, the cluster and autopilot must be healthy with failure tolerance >= 1, " +
        'and a snapshot is saved. Then each standby is recreated with the new image and the same volumes and waited for ' +
        "(unsealed, at the leader's index, a healthy voter); the leader steps down to an upgraded node and is recreated last. " +
        'Numbered writes run throughout (--no-traffic turns them off) and are read back at the end. Ctrl-C or a node that ' +
        'does not come back stops with the cluster serving; running the same command again finishes the job. ' +
        'The state dir remembers the new image, so a later `up` changes nothing. Asks for confirmation unless --yes or --dry-run.\n\n' +
        'Exit codes: 0 upgraded (or nothing to do), 1 refused (nothing touched), 2 a node or Docker failed (cluster serving), ' +
        '3 an acknowledged write was lost, 130 cancelled.\n\n' +
        'Example:\n  $ vaultctl upgrade --server-version 2.7.2 --dry-run\n  $ vaultctl upgrade --server-version 2.7.2 --yes\n' +
        '  $ vaultctl upgrade --image openbao/openbao:2.7.2 --yes --format json',
    )
    .option('--image <ref>', 'the target server image')
    .option(
      '--server-version <version>',
      'the target server version: openbao/openbao:<version>, or the local vaultctl/openbao:<version>',
    )
    .option('--dry-run', 'run the preflight and print the plan; change nothing')
    .option('--yes', 'do not ask for confirmation')
    .option('--no-traffic', 'do not write during the upgrade')
    .option('--rate <n>', 'writes per second during the upgrade', '20')
    .option(
      '--snapshot-dir <dir>',
      'where the snapshot before the upgrade goes (default <state dir>/snapshots)',
    )
    .option('--node-timeout <d>', 'longest wait for a recreated node to be back', '120s')
    .action(
      action(deps.setExitCode, (global, opts: UpgradeCommandOptions) =>
        locked(global, deps, 'upgrade', () => run(global, opts, deps), opts),
      ),
    );
}
