import type { Command } from 'commander';
import { Option } from 'commander';
import { runAgent } from '../agent/agent.js';
import { agentLock } from '../agent/lock.js';
import { type LogFormat, type Logger, makeLogger } from '../agent/log.js';
import { readAgentToken } from '../bootstrap/agent-token.js';
import { systemClock } from '../cluster/poll.js';
import { openAddressedCluster, openCluster } from '../cluster/running.js';
import { apiScheme } from '../spec/names.js';
import { CONTAINER_API_PORT } from '../spec/schema.js';
import type { StateDir } from '../state/state-dir.js';
import { AGENT_IN_NETWORK_ENV } from '../templates/agent.js';
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
  // In its container (`up --agent`) the agent reaches the nodes by their names on the cluster
  // network (in their certificates), not through the host's loopback.
  const inNetwork = deps.env[AGENT_IN_NETWORK_ENV] === '1';
  const common = { tls: resolveTls(deps, spec, state), connect: connectVaultNode, tokens: {} };
  // Only the agent's own token: no root token, no admin login, no BAO_TOKEN.
  const cluster = inNetwork
    ? openAddressedCluster({
        ...common,
        addresses: spec.nodes.map((n) => ({
          name: n.name,
          address: `${apiScheme(spec)}://${n.name}:${CONTAINER_API_PORT}`,
        })),
      })
    : openCluster({ ...common, spec, state, runtime: deps.runtime });
  const log = makeLogger(opts.logFormat ?? 'text', (l) => process.stderr.write(l), {
    debug: global.verbose ?? false,
  });
  deps.progress.stop();
  // Started by `up` before `init` made its token: wait for it rather than exit (and restart).
  if (inNetwork) await waitForAgentToken(state, log, deps.signal);
  const ok = await runAgent(
    {
      cluster,
      spec,
      state,
      env: deps.env,
      log,
      // Inside the agent's container the lock is not taken yet: sharing the host's lock file with a
      // non-root container is not done (see the README's agent section).
      ...(inNetwork ? {} : { lock: agentLock(state.root) }),
    },
    { metricsPort, once: opts.once, ...(inNetwork ? { metricsHost: '0.0.0.0', hostJobs: false } : {}) },
    deps.signal,
  );
  return ok ? 0 : 2;
}

async function waitForAgentToken(state: StateDir, log: Logger, signal: AbortSignal): Promise<void> {
  if (readAgentToken(state)) return;
  log.info('waiting for the agent token (`vaultctl init` creates it)');
  while (!readAgentToken(state)) {
    if (signal.aborted) return;
    await systemClock.sleep(2000, signal).catch(() => undefined);
  }
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
