import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { Option } from 'commander';
import { describeStep } from '../lifecycle/plan.js';
import { upCluster } from '../lifecycle/up.js';
import { json } from '../output/format.js';
import { connectVaultNode } from '../vault/api.js';
import type { CommandDeps, GlobalOptions, SpecFlags } from './context.js';
import { addSpecOptions, loadClusterSpec } from './context.js';
import { locked } from './lock.js';

export interface UpOptions extends SpecFlags {
  readonly dryRun?: boolean;
}

export async function run(global: GlobalOptions, opts: UpOptions, deps: CommandDeps): Promise<number> {
  const { spec, state } = loadClusterSpec(global, opts, deps, 'bringing the cluster up');
  const res = await upCluster(
    spec,
    state,
    { runtime: deps.runtime(), connect: connectVaultNode, progress: deps.progress, signal: deps.signal },
    { dryRun: opts.dryRun ?? false },
  );
  deps.progress.stop();
  if (global.format === 'json') {
    deps.out(
      json({
        cluster: spec.name,
        dryRun: res.dryRun,
        stateDir: res.stateDir,
        image: res.image,
        localSteps: res.localSteps,
        steps: res.plan.steps.map((s) => ({ action: s.action, target: s.target, reason: s.reason })),
        orphans: res.plan.orphans,
        nodes: res.nodes,
        ...(res.endpoint ? { endpoint: res.endpoint } : {}),
        ...(res.monitoring ? { prometheus: res.monitoring } : {}),
        ...(res.unsealer ? { unsealer: res.unsealer } : {}),
      }),
    );
    return 0;
  }
  const steps = [
    ...res.localSteps.map((s) => `${s.action.replace(/-/g, ' ')} ${s.target} (${s.reason})`),
    ...res.plan.steps.map(describeStep),
  ];
  if (res.dryRun) {
    deps.out(
      steps.length === 0
        ? `Cluster ${spec.name}: nothing to do.`
        : `Plan for cluster ${spec.name} (dry run, nothing changed):`,
    );
    for (const s of steps) deps.out(`  - ${s}`);
    return 0;
  }
  if (res.plan.steps.length === 0) deps.out(`Cluster ${spec.name} is up to date: nothing to do.`);
  else deps.out(`Cluster ${spec.name} is up (${res.plan.steps.length} step(s) applied).`);
  for (const n of res.nodes) deps.out(`  ${n.name}  ${n.address}`);
  if (res.endpoint) {
    deps.out(
      `  endpoint  ${res.endpoint.address}   (the active node, whichever it is; image ${res.endpoint.image})`,
    );
    if (res.endpoint.standbyAddress)
      deps.out(`  endpoint (any unsealed node)  ${res.endpoint.standbyAddress}`);
  }
  if (res.monitoring) deps.out(`  prometheus  ${res.monitoring.address}   (image ${res.monitoring.image})`);
  deps.out(`State dir: ${res.stateDir}`);
  if (!existsSync(state.initFile))
    deps.out('Next: vaultctl init   (initialises, unseals, joins and configures the cluster)');
  else if (spec.seal.type === 'shamir')
    deps.out('Next: vaultctl unseal   (initialised before: the nodes start sealed), then vaultctl health');
  else deps.out('Next: vaultctl health --wait 60s   (initialised before: the nodes unseal themselves)');
  return 0;
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
        '  $ vaultctl up --dev-kms --server-version 2.6.2   (awskms through a local KMS API)',
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
        '--dev-kms',
        "development only: run moto's AWS KMS API (vaultctl/moto) on the cluster network and auto-unseal with awskms through it (remembered; seal.devKms.enabled)",
      ).helpGroup('Cluster spec:'),
    );
  addSpecOptions(cmd).action(async (opts: UpOptions, c: Command) => {
    const global = c.optsWithGlobals() as GlobalOptions;
    deps.setExitCode(await locked(global, deps, 'up', () => run(global, opts, deps), opts));
  });
}
