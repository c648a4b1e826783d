import type { Command } from 'commander';
import { Option } from 'commander';
import { runAgent } from '../agent/agent.js';
import { agentLock } from '../agent/lock.js';
import { type LogFormat, makeLogger } from '../agent/log.js';
import { openCluster } from '../cluster/running.js';
import { connectVaultNode } from '../vault/api.js';
import type { CommandDeps, GlobalOptions } from './command-deps.js';
import { loadClusterSpec, resolveTls } from './command-deps.js';
import { action, countFlag } from './flags.js';

interface AgentOpts {
  readonly logFormat?: LogFormat;
  readonly metricsPort?: string;
  readonly once?: boolean;
}

export async function runAgentCommand(
  global: GlobalOptions,
  opts: AgentOpts,
  deps: CommandDeps,
): Promise<number> {
  const doing = 'starting the agent';
  const metricsPort =
    opts.metricsPort === undefined ? undefined : countFlag(opts.metricsPort, '--metrics-port', 0, 65535);
  const { spec, state } = loadClusterSpec(global, {}, deps, doing);
  // Only the agent's own token: no root token, no admin login, no BAO_TOKEN.
  const cluster = openCluster({
    spec,
    state,
    tls: resolveTls(deps, spec, state),
    connect: connectVaultNode,
    runtime: deps.runtime,
    tokens: {},
  });
  const log = makeLogger(opts.logFormat ?? 'text', (l) => process.stderr.write(l), {
    debug: global.verbose ?? false,
  });
  deps.progress.stop();
  const ok = await runAgent(
    { cluster, spec, state, env: deps.env, log, lock: agentLock(state.root) },
    { metricsPort, once: opts.once },
    deps.signal,
  );
  return ok ? 0 : 2;
}

export function register(program: Command, deps: CommandDeps): void {
  program
    .command('agent')
    .summary('run the scheduled work (backups) in the foreground')
    .description(
      "Runs the spec's backup section on its schedule until stopped: saves a snapshot with the agent's own token " +
        '(created by `vaultctl init`, never the root token), encrypts it (age or GPG), uploads it to every destination ' +
        '(directory, S3), reads it back to verify its SHA-256, writes the sidecar, then applies retention. A run missed ' +
        'while the agent was down runs once at start. SIGTERM/SIGINT abort the current run cleanly (no half-written ' +
        'snapshot is ever listed) and stop. Status: `vaultctl snapshot status`; metrics on 127.0.0.1:backup.metricsPort.\n\n' +
        'Example:\n  $ vaultctl agent --log-format json\n  $ vaultctl agent --once        # one backup now, exit 0 when every destination verified',
    )
    .addOption(
      new Option('--log-format <format>', 'log lines on stderr').choices(['text', 'json']).default('text'),
    )
    .option(
      '--metrics-port <port>',
      'serve Prometheus metrics on 127.0.0.1:PORT (default backup.metricsPort; 0: none)',
    )
    .option('--once', 'run one backup now and exit (0: every destination verified, 2: one failed)')
    .action(action(deps.setExitCode, (global, opts: AgentOpts) => runAgentCommand(global, opts, deps)));
}
