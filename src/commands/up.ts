import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { Option } from 'commander';
import { checkBackupHost } from '../agent/preflight.js';
import { ensureAgentToken, readAgentToken } from '../bootstrap/agent-token.js';
import { describeGraphStep } from '../cluster/reconcile/plan.js';
import { errorMessage } from '../errors.js';
import { upCluster } from '../lifecycle/up.js';
import { connectVaultNode } from '../vault/api.js';
import type { CommandDeps, GlobalOptions, SpecFlags } from './command-deps.js';
import { addSpecOptions, loadClusterSpec, openManagedCluster, output } from './command-deps.js';
import { action } from './flags.js';
import { locked } from './lock.js';

export interface UpOptions extends SpecFlags {
  readonly dryRun?: boolean;
}

export async function run(global: GlobalOptions, opts: UpOptions, deps: CommandDeps): Promise<number> {
  const { spec, state } = loadClusterSpec(global, opts, deps, 'bringing the cluster up');
  await checkBackupHost(spec.backup, deps.env, 'bringing the cluster up');
  const res = await upCluster(
    spec,
    state,
    { runtime: deps.runtime(), connect: connectVaultNode, progress: deps.progress, signal: deps.signal },
    { dryRun: opts.dryRun ?? false },
  );
  deps.progress.stop();
  const agentToken =
    !res.dryRun && spec.backup && existsSync(state.initFile) && !readAgentToken(state)
      ? await agentTokenAfterUp(global, opts, deps)
      : undefined;
  output(global, deps)(
    {
      cluster: spec.name,
      dryRun: res.dryRun,
      stateDir: res.stateDir,
      image: res.image,
      localSteps: res.localSteps,
      steps: res.plan.steps.map((s) => ({
        action: s.action,
        target: s.target,
        reason: s.reason,
        id: s.id,
        dependsOn: s.dependsOn,
      })),
      orphans: res.plan.orphans,
      nodes: res.nodes,
      ...(res.endpoint ? { endpoint: res.endpoint } : {}),
      ...(res.monitoring ? { prometheus: res.monitoring } : {}),
      ...(res.unsealer ? { unsealer: res.unsealer } : {}),
    },
    () => {
      const lines: string[] = [];
      const steps = [
        ...res.localSteps.map((s) => `${s.action.replace(/-/g, ' ')} ${s.target} (${s.reason})`),
        ...res.plan.steps.map(describeGraphStep),
      ];
      if (res.dryRun) {
        lines.push(
          steps.length === 0
            ? `Cluster ${spec.name}: nothing to do.`
            : `Plan for cluster ${spec.name} (dry run, nothing changed):`,
        );
        for (const s of steps) lines.push(`  - ${s}`);
        return lines;
      }
      if (res.plan.steps.length === 0) lines.push(`Cluster ${spec.name} is up to date: nothing to do.`);
      else lines.push(`Cluster ${spec.name} is up (${res.plan.steps.length} step(s) applied).`);
      for (const n of res.nodes) lines.push(`  ${n.name}  ${n.address}`);
      if (res.endpoint) {
        lines.push(
          `  endpoint  ${res.endpoint.address}   (the active node, whichever it is; image ${res.endpoint.image})`,
        );
        if (res.endpoint.standbyAddress)
          lines.push(`  endpoint (any unsealed node)  ${res.endpoint.standbyAddress}`);
      }
      if (res.monitoring)
        lines.push(`  prometheus  ${res.monitoring.address}   (image ${res.monitoring.image})`);
      if (spec.agent.enabled)
        lines.push(
          `  agent  ${spec.name}-agent   (image ${spec.agent.image}; status: vaultctl snapshot status)`,
        );
      lines.push(`State dir: ${res.stateDir}`);
      if (agentToken) lines.push(agentToken);
      if (!existsSync(state.initFile))
        lines.push('Next: vaultctl init   (initialises, unseals, joins and configures the cluster)');
      else if (spec.seal.type === 'shamir')
        lines.push(
          'Next: vaultctl unseal   (initialised before: the nodes start sealed), then vaultctl health',
        );
      else lines.push('Next: vaultctl health --wait 60s   (initialised before: the nodes unseal themselves)');
      return lines;
    },
  );
  return 0;
}

/**
 * An initialised cluster whose spec gained a backup section: the agent token is created now (with
 * the operator's token), once the cluster serves; if it does not within 60 s, `init` will.
 */
async function agentTokenAfterUp(global: GlobalOptions, opts: UpOptions, deps: CommandDeps): Promise<string> {
  const doing = 'creating the agent token';
  const { state, cluster } = openManagedCluster(global, opts, deps, doing);
  try {
    const api = await cluster.waitFor(
      'an active node to create the agent token',
      async () => {
        const s = await cluster.servingNode(doing).catch(() => undefined);
        return s && !s.standby ? s.api : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 1000, signal: deps.signal, doing, hint: '`vaultctl init` creates it' },
    );
    const r = await ensureAgentToken(api, state);
    return `Agent token: ${r.detail}`;
  } catch (err) {
    return `Agent token: not created (${errorMessage(err).split('\n')[0]}); \`vaultctl init\` creates it`;
  }
}

export function register(program: Command, deps: CommandDeps): void {
  const cmd = program
    .command('up')
    .summary('create or reconcile the network, volumes and containers')
    .description(
      'Observes what exists, plans the steps that bring it to the spec, and applies them. Running it again changes nothing. ' +
        'A run that fails or is cancelled removes what it created. Generates the static seal key once; never overwrites it.\n\n' +
        'With --monitoring it also runs Prometheus on the cluster network, scraping every node (metrics token from `init`), ' +
        'its port published on 127.0.0.1.\n\n' +
        'Example:\n  $ vaultctl up --dry-run\n  $ vaultctl up --image vaultctl/openbao:2.7.2\n' +
        '  $ vaultctl up --monitoring --monitoring-image vaultctl/prometheus:2.42.0\n' +
        '  $ vaultctl up --dev-kms --server-version 2.6.2   (awskms through a local KMS API)\n' +
        '  $ vaultctl up --agent   (scheduled backups from a container; needs a backup section)',
    )
    .option('--dry-run', 'print the plan and change nothing')
    .addOption(
      new Option('--monitoring', 'also run Prometheus (remembered; monitoring.enabled)').helpGroup(
        'Monitoring:',
      ),
    )
    .addOption(
      new Option('--monitoring-image <ref>', 'Prometheus image (default prom/prometheus:v2.42.0)').helpGroup(
        'Monitoring:',
      ),
    )
    .addOption(
      new Option('--monitoring-port <port>', 'Prometheus port on 127.0.0.1 (default 9090)').helpGroup(
        'Monitoring:',
      ),
    )
    .addOption(
      new Option(
        '--agent',
        "also run `vaultctl agent` (the backup section) as <cluster>-agent on the cluster network, its image built from this host's node (remembered; agent.enabled)",
      ).helpGroup('Cluster spec:'),
    )
    .addOption(
      new Option(
        '--dev-kms',
        "development only: run moto's AWS KMS API (vaultctl/moto) on the cluster network and auto-unseal with awskms through it (remembered; seal.devKms.enabled)",
      ).helpGroup('Cluster spec:'),
    );
  addSpecOptions(cmd).action(
    action(deps.setExitCode, (global, opts: UpOptions) =>
      locked(global, deps, 'up', () => run(global, opts, deps), opts),
    ),
  );
}
