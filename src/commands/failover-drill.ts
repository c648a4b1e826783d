import type { Command } from 'commander';
import { Option } from 'commander';
import type { DrillConfig } from '../drill/config.js';
import { DRILL_DEFAULTS, validateDrillConfig } from '../drill/config.js';
import type { RoundReport } from '../drill/report.js';
import { FAULT_KINDS, FAULT_TARGETS } from '../drill/report.js';
import { runDrill } from '../drill/run.js';
import { failureLines, formatSeconds, summarize } from '../drill/summary.js';
import { CheckFailedError, ExitCode, UsageError } from '../errors.js';
import { table } from '../output/format.js';
import type { PartitionMethod } from '../runtime/port.js';
import type { CommandDeps, GlobalOptions } from './command-deps.js';
import { confirm, openManagedCluster, output } from './command-deps.js';
import { runSealDrillCommand } from './failover-drill-seal.js';
import { action, choiceFlag, countFlag, durationFlag, numberFlag } from './flags.js';
import { locked } from './lock.js';

/**
 * The flags as commander hands them over. The flags `--fault seal` cannot honour have no commander
 * default (theirs are applied here), so that the seal drill can tell one the user gave and refuse it.
 */
export interface DrillOptions {
  /** Nodes of a cluster vaultctl did not start (after `init --addr`). */
  readonly addr?: string[];
  readonly fault: string;
  readonly target?: string;
  readonly rate: string;
  readonly readRate?: string;
  readonly duration: string;
  readonly rounds?: string;
  readonly maxRto?: string;
  readonly healTimeout: string;
  readonly partitionMethod?: string;
  /** commander's `--no-endpoint`: false turns the endpoint writer off. */
  readonly endpoint?: boolean;
  readonly yes?: boolean;
}

/** Defaults of the flags that only the process and network faults read. */
export const FAULT_FLAG_DEFAULTS = { target: 'leader', rounds: '1', maxRto: '5s' } as const;

/** The flags the seal drill cannot honour (it takes the backend away once, every node restarts). */
const NOT_FOR_SEAL: readonly { flag: string; given: (o: DrillOptions) => boolean }[] = [
  { flag: '--target', given: (o) => o.target !== undefined },
  { flag: '--rounds', given: (o) => o.rounds !== undefined },
  { flag: '--max-rto', given: (o) => o.maxRto !== undefined },
  { flag: '--read-rate', given: (o) => o.readRate !== undefined },
  { flag: '--partition-method', given: (o) => o.partitionMethod !== undefined },
  { flag: '--no-endpoint', given: (o) => o.endpoint === false },
];

/** Refuses, before anything is touched, a flag given with `--fault seal` that it would ignore. */
export function refuseFlagsNotForSeal(opts: DrillOptions): void {
  const given = NOT_FOR_SEAL.filter((f) => f.given(opts)).map((f) => f.flag);
  if (given.length > 0)
    throw new UsageError(
      'reading the failover-drill flags',
      `--fault seal cannot honour ${given.join(', ')}: the seal drill takes the seal backend away once and restarts every node`,
      `drop ${given.join(', ')}; with --fault seal only --rate, --duration, --heal-timeout and --yes apply`,
    );
}

export function parseDrillOptions(opts: DrillOptions): DrillConfig & { maxRtoMs: number } {
  const fault = choiceFlag(opts.fault, 'fault', FAULT_KINDS);
  const target = choiceFlag(opts.target ?? FAULT_FLAG_DEFAULTS.target, 'target', FAULT_TARGETS);
  if (opts.partitionMethod !== undefined && !['peers', 'network'].includes(opts.partitionMethod))
    throw new UsageError(
      'reading --partition-method',
      `unknown method "${opts.partitionMethod}"`,
      'use peers or network',
    );
  return {
    ...DRILL_DEFAULTS,
    fault,
    target,
    rate: numberFlag(opts.rate, 'rate', 1, 1000),
    readRate: numberFlag(opts.readRate ?? String(DRILL_DEFAULTS.readRate), 'read-rate', 0, 1000),
    holdMs: durationFlag(opts.duration, 'duration'),
    rounds: countFlag(opts.rounds ?? FAULT_FLAG_DEFAULTS.rounds, 'rounds', 1, 1000),
    maxRtoMs: durationFlag(opts.maxRto ?? FAULT_FLAG_DEFAULTS.maxRto, 'max-rto'),
    healTimeoutMs: durationFlag(opts.healTimeout, 'heal-timeout'),
    partitionMethod: opts.partitionMethod as PartitionMethod | undefined,
    viaEndpoint: opts.endpoint !== false,
  };
}

const ms = (v: number | null) => (v === null ? '-' : (v / 1000).toFixed(2));

export async function run(global: GlobalOptions, opts: DrillOptions, deps: CommandDeps): Promise<number> {
  if (opts.fault === 'seal') {
    refuseFlagsNotForSeal(opts);
    return runSealDrillCommand(global, opts, deps);
  }
  const doing = 'running the failover drill';
  const cfg = parseDrillOptions(opts);
  const { spec, cluster } = openManagedCluster(global, {}, deps, doing, opts.addr);
  validateDrillConfig(cfg, spec);
  if (cfg.fault !== 'step-down' && cluster.nodes.some((n) => !n.container)) {
    throw new UsageError(
      doing,
      `--fault ${cfg.fault} acts on the nodes' containers, and nodes given by --addr have none`,
      'by address, run --fault step-down; kill, stop, pause and partition need the cluster vaultctl started',
    );
  }
  const victim = cfg.target === 'all' ? 'every node' : `the ${cfg.target}`;
  await confirm(
    deps,
    `This will ${cfg.fault} ${victim} of cluster ${spec.name} ${cfg.rounds} time(s) under live writes. Continue?`,
    opts.yes,
    doing,
    { action: `the drill will ${cfg.fault} ${victim} of cluster ${spec.name}`, undone: 'nothing was done' },
  );
  const result = await runDrill(cfg, { cluster, progress: deps.progress, signal: deps.signal });
  deps.progress.stop();
  const summary = summarize(result.rounds, cfg.maxRtoMs);
  const config = {
    cluster: spec.name,
    fault: cfg.fault,
    target: cfg.target,
    rate: cfg.rate,
    readRate: cfg.readRate,
    holdSeconds: cfg.holdMs / 1000,
    maxRtoSeconds: cfg.maxRtoMs / 1000,
    performanceMultiplier: spec.raft.performanceMultiplier,
  };
  output(global, deps)(
    { drill: result.id, config, rounds: result.rounds, summary, keysLeft: result.keysLeft },
    () => {
      const lines: string[] = [];
      const row = (r: RoundReport) => [
        String(r.round),
        r.victims.join(','),
        `${r.leaderBefore} -> ${r.leaderAfter ?? '?'}`,
        ms(r.newLeaderMs),
        ms(r.writeUnavailableMs),
        ms(r.longestAckGapMs),
        `${r.writes.acked}/${r.writes.sent}`,
        String(r.writes.failed),
        String(r.lostWrites),
        `${r.reads.failedOnOthers}/${r.reads.failedOnFaulted}`,
        ms(r.rejoinMs),
        r.healed ? ms(r.healMs) : 'NO',
      ];
      lines.push(
        table(
          [
            'ROUND',
            'FAULTED',
            'LEADER',
            'NEW LEADER S',
            'WRITES DOWN S',
            'LONGEST GAP S',
            'ACKED',
            'FAILED',
            'LOST',
            'READS FAILED (OTHERS/FAULTED)',
            'REJOIN S',
            'HEALED S',
          ],
          result.rounds.map(row),
        ),
      );
      lines.push('');
      const s = summary;
      lines.push(
        `${cfg.fault} ${cfg.target}, ${s.rounds} round(s), ${cfg.rate} writes/s, multiplier ${config.performanceMultiplier}: ` +
          `RTO median ${formatSeconds(s.rtoMs.median)}, worst ${formatSeconds(s.rtoMs.max)}; ` +
          `new leader median ${formatSeconds(s.newLeaderMs.median)}; ${s.writesAcked} writes acknowledged, ` +
          `${s.writesFailed} failed, ${s.lostWrites} lost`,
      );
      if (s.endpoint)
        lines.push(
          `through the endpoint (one address, as an application sees it): RTO median ${formatSeconds(s.endpoint.rtoMs.median)}, ` +
            `worst ${formatSeconds(s.endpoint.rtoMs.max)}; ${s.endpoint.writesAcked} writes acknowledged, ${s.endpoint.writesFailed} failed, ${s.endpoint.lostWrites} lost`,
        );
      for (const c of s.checks) lines.push(`  ${c.ok ? 'ok    ' : 'FAILED'} ${c.name}: ${c.detail}`);
      const failures = failureLines(result.rounds);
      if (failures.length > 0) {
        lines.push('failed requests (node, error, when, first message):');
        for (const line of failures) lines.push(line);
      }
      return lines;
    },
  );
  if (!summary.ok)
    throw new CheckFailedError(
      doing,
      summary.checks.filter((c) => !c.ok).map((c) => c.name),
    );
  return ExitCode.ok;
}

export function register(program: Command, deps: CommandDeps): void {
  program
    .command('failover-drill')
    .summary('inject a fault under live writes; measure RTO, lost writes and rejoin')
    .description(
      'Sends numbered writes at a fixed rate through the nodes (failing over between them) and reads through every node, ' +
        'then injects a fault: kill (SIGKILL), stop (graceful), pause (frozen process) or partition (cut off from its peers ' +
        'while it keeps running), on the leader, a follower, or every node (auto-unseal must bring them back). After --duration ' +
        'it heals the fault, waits for the node to rejoin and catch up and for a healthy cluster, and reads every acknowledged ' +
        'write back. Reports, per round and summarised: time to a new leader, write unavailability, longest gap between ' +
        'acknowledgements, failed reads and writes, lost writes, rejoin and heal times. Exit 0 when every check passes; ' +
        '3 when a write was lost, the cluster did not heal, or the RTO exceeded --max-rto. A fault is always healed before ' +
        'the drill exits, Ctrl-C included. Asks for confirmation unless --yes.\n\n' +
        'With --fault seal (a cluster on the transit seal of its own unsealer, which is stopped, or on the dev KMS of ' +
        'up --dev-kms, which is cut off its network) the seal backend goes away instead: a follower ' +
        'restarts, then every node; they must stay sealed, health must be down (exit 2) naming the seal backend, and once ' +
        'the backend is back every node must unseal itself with no acknowledged write lost; reports the time from ' +
        '"backend back" to "healthy".\n\n' +
        'Example:\n  $ vaultctl failover-drill --fault kill --target leader --rounds 3 --yes\n' +
        '  $ vaultctl failover-drill --fault seal --yes\n' +
        '  $ vaultctl failover-drill --fault partition --duration 15s --format json --yes',
    )
    .addOption(
      new Option(
        '--fault <kind>',
        'kill, stop, pause, partition, step-down (the leader steps down over the API), or seal (the seal backend goes away)',
      ).default('kill'),
    )
    .addOption(new Option('--target <node>', 'leader, follower or all (default leader)'))
    .option('--rate <n>', 'writes per second', String(DRILL_DEFAULTS.rate))
    .option('--read-rate <n>', `reads per second through each node (default ${DRILL_DEFAULTS.readRate})`)
    .option('--duration <d>', 'how long the fault lasts', '10s')
    .option('--rounds <n>', 'rounds (a fault and its heal each; default 1)')
    .option(
      '--max-rto <d>',
      'fail (exit 3) when a round is unavailable for writes longer than this (default 5s)',
    )
    .option('--heal-timeout <d>', 'longest wait for the cluster to heal', '90s')
    .addOption(
      new Option(
        '--partition-method <m>',
        'peers: drop packets between the node and its peers (needs root, nsenter, iptables); network: disconnect it from the Docker network (default: peers when possible)',
      ),
    )
    .option(
      '--no-endpoint',
      'do not also write through the active-node endpoint (by default a second writer sends the same writes through it, as a one-address application does)',
    )
    .option(
      '--addr <url...>',
      'node addresses of a cluster initialised with `init --addr` (one per node, the order init was given); --cluster names its state dir (faults that need a container refuse)',
    )
    .option('--yes', 'do not ask for confirmation')
    .action(
      action(deps.setExitCode, (global, opts: DrillOptions) =>
        locked(global, deps, 'failover-drill', () => run(global, opts, deps)),
      ),
    );
}
