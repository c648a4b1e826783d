/**
 * `failover-drill --fault seal`: the seal backend goes away under live writes (see drill/seal.ts).
 * Called by failover-drill.ts; prints the outage checks, the recovery time and the writes.
 */
import { DRILL_DEFAULTS } from '../drill/config.js';
import { runSealDrill } from '../drill/seal.js';
import { CheckFailedError, ExitCode, UsageError } from '../errors.js';
import { devKmsBackend } from '../lifecycle/dev-kms.js';
import { usesUnsealer } from '../spec/names.js';
import { unsealerBackend } from '../unsealer/backend.js';
import { connectVaultNode } from '../vault/api.js';
import type { CommandDeps, GlobalOptions } from './command-deps.js';
import { confirm, openManagedCluster, output } from './command-deps.js';
import { durationFlag, numberFlag } from './flags.js';

/** The failover-drill options the seal drill reads. */
export interface SealDrillOptions {
  readonly rate: string;
  readonly duration: string;
  readonly healTimeout: string;
  readonly yes?: boolean;
}

const secs = (ms: number | null) => (ms === null ? '-' : `${(ms / 1000).toFixed(1)} s`);

export async function runSealDrillCommand(
  global: GlobalOptions,
  opts: SealDrillOptions,
  deps: CommandDeps,
): Promise<number> {
  const doing = 'running the seal drill';
  const { spec, cluster } = openManagedCluster(global, {}, deps, doing);
  const devKms = spec.seal.type === 'awskms' && spec.seal.devKms.enabled;
  if (!usesUnsealer(spec) && !devKms)
    throw new UsageError(
      doing,
      spec.seal.type === 'transit'
        ? 'the transit server is not one vaultctl runs: it cannot take it away'
        : `the cluster uses the ${spec.seal.type} seal${spec.seal.type === 'awskms' ? ' of a KMS vaultctl does not run' : ''}, and vaultctl has no seal backend of it to take away`,
      'run the seal drill on a cluster whose seal backend vaultctl runs: the unsealer (vaultctl up --seal transit, no seal.transit.address) or the dev KMS (vaultctl up --dev-kms)',
    );
  const cfg = {
    ...DRILL_DEFAULTS,
    fault: 'stop' as const,
    target: 'all' as const,
    rate: numberFlag(opts.rate, 'rate', 1, 1000),
    readRate: 0,
    holdMs: durationFlag(opts.duration, 'duration'),
    healTimeoutMs: durationFlag(opts.healTimeout, 'heal-timeout'),
  };
  await confirm(
    deps,
    `This will take the seal backend of cluster ${spec.name} and restart every node under live writes. Continue?`,
    opts.yes,
    doing,
    {
      action: `the drill will take ${devKms ? 'the dev KMS' : 'the unsealer'} away and restart every node of ${spec.name}`,
      undone: 'nothing was done',
    },
  );
  const backend = devKms
    ? devKmsBackend(spec, { runtime: deps.runtime() })
    : unsealerBackend(spec, {
        runtime: deps.runtime(),
        connect: connectVaultNode,
        tls: cluster.tls,
        state: cluster.state,
      });
  const r = await runSealDrill(cfg, { cluster, backend, progress: deps.progress, signal: deps.signal });
  deps.progress.stop();
  output(global, deps)({ drill: r.id, fault: 'seal', cluster: spec.name, ...r }, () => {
    const lines: string[] = [];
    lines.push(`seal backend: ${r.backend}, away for ${secs(r.outageMs)}`);
    lines.push(
      `  one follower restarted (${r.oneRestarted.node}): health ${r.oneRestarted.verdict} (exit ${r.oneRestarted.exitCode})`,
    );
    lines.push(
      `  every node restarted: health ${r.allRestarted.verdict} (exit ${r.allRestarted.exitCode}); cause in every log after ${secs(r.allRestarted.causeSeenMs)}`,
    );
    for (const reason of r.allRestarted.reasons.slice(0, 1)) lines.push(`    ${reason}`);
    lines.push(`  backend back -> healthy: ${secs(r.recoveryMs)}`);
    lines.push(
      `  writes: ${r.writes.acked} acknowledged, ${r.writes.failed} failed (while no node could serve), ${r.lostWrites} lost`,
    );
    for (const c of r.checks) lines.push(`  ${c.ok ? 'ok    ' : 'FAILED'} ${c.name}: ${c.detail}`);
    return lines;
  });
  if (!r.ok)
    throw new CheckFailedError(
      doing,
      r.checks.filter((c) => !c.ok).map((c) => c.name),
    );
  return ExitCode.ok;
}
