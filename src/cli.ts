/**
 * The command registry and the one place where errors become exit codes (`describeError`):
 *   0 ok · 1 usage/config/local · 2 remote (Docker, Vault) · 3 a judged run failed its checks
 *   · 70 internal bug · 130 cancelled.
 * `health` adds its verdicts: 0 healthy, 1 degraded, 2 down.
 */
import { createInterface } from 'node:readline';
import chalk from 'chalk';
import { Command, CommanderError, Option } from 'commander';
import type { CommandDeps } from './commands/command-deps.js';
import {
  CheckFailedError,
  ConfigError,
  ExitCode,
  LeftoverError,
  UsageError,
  VaultctlError,
} from './errors.js';
import { debugEnabled, StderrProgress } from './output/progress.js';
import { DockerRuntime } from './runtime/docker.js';

export const VERSION = '0.1.0';

/** What a command module gives the registry: the commands it adds to the program. */
export interface CommandModule {
  register(program: Command, deps: CommandDeps): void;
}

/**
 * Every command module by the top-level command it registers, in the order `vaultctl --help` lists
 * them. A module (and what it imports: the spec's zod schema, yaml, dockerode, node-vault,
 * age-encryption, the AWS SDK) is loaded only when its command is run or its help shown: a start of
 * the CLI pays for the one command it runs, not for all of them.
 */
export const COMMAND_MODULES: ReadonlyArray<readonly [string, () => Promise<CommandModule>]> = [
  ['render', () => import('./commands/render.js')],
  ['image', () => import('./commands/image-build.js')],
  ['up', () => import('./commands/up.js')],
  ['init', () => import('./commands/init.js')],
  ['unseal', () => import('./commands/unseal.js')],
  ['health', () => import('./commands/health.js')],
  ['env', () => import('./commands/env.js')],
  ['tenant', () => import('./commands/tenant.js')],
  ['tls', () => import('./commands/tls-rotate.js')],
  ['audit', () => import('./commands/audit.js')],
  ['root-token', () => import('./commands/root-token.js')],
  ['snapshot', () => import('./commands/snapshot.js')],
  ['seal', () => import('./commands/seal.js')],
  ['bench', () => import('./commands/bench.js')],
  ['failover-drill', () => import('./commands/failover-drill.js')],
  ['upgrade', () => import('./commands/upgrade.js')],
  ['down', () => import('./commands/down.js')],
  ['agent', () => import('./commands/agent.js')],
];

/** The global options that take a value (the word after them is not the command). */
const GLOBAL_VALUE_OPTIONS = new Set(['--cluster', '-c', '--config', '--state-dir', '--format']);

/**
 * The command modules a command line needs: the one of its command; none for a bare `--version`;
 * every one for the program's help, `help`, no command or an unknown one (whose refusal suggests the
 * nearest name).
 */
export function modulesFor(args: readonly string[]): Array<() => Promise<CommandModule>> {
  const all = COMMAND_MODULES.map(([, load]) => load);
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === '--') break;
    if (GLOBAL_VALUE_OPTIONS.has(a)) {
      i += 1;
      continue;
    }
    if (a.startsWith('-')) continue;
    const found = COMMAND_MODULES.find(([name]) => name === a);
    return found ? [found[1]] : all;
  }
  const versionOnly =
    args.some((a) => a === '-V' || a === '--version') && !args.some((a) => a === '-h' || a === '--help');
  return versionOnly ? [] : all;
}

/** The program with the command modules this command line needs (`args`: without node and script). */
export async function loadProgram(deps: CommandDeps, args: readonly string[]): Promise<Command> {
  return buildProgram(deps, await Promise.all(modulesFor(args).map((load) => load())));
}

function promptOnTty(question: string, hidden = false): Promise<string> {
  return new Promise((resolve) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
    if (hidden) {
      const internal = rl as unknown as { _writeToOutput: (s: string) => void };
      let asked = false;
      internal._writeToOutput = (s: string) => {
        if (!asked) {
          process.stderr.write(s);
          asked = true;
        }
      };
    }
    rl.question(question, (answer) => {
      if (hidden) process.stderr.write('\n');
      rl.close();
      resolve(answer);
    });
  });
}

export function buildProgram(deps: CommandDeps, modules: readonly CommandModule[]): Command {
  const program = new Command('vaultctl')
    .version(VERSION)
    .description(
      'Operator CLI for a highly available OpenBao / Vault cluster on Raft integrated storage.\n\n' +
        'Example:\n  $ vaultctl up && vaultctl init && vaultctl health',
    )
    .addOption(
      new Option('--cluster <name>', 'cluster name (default alphapulse; env VAULTCTL_CLUSTER)').helpGroup(
        'Global:',
      ),
    )
    .addOption(
      new Option(
        '-c, --config <file>',
        'cluster spec file (default ./vaultctl.yaml; env VAULTCTL_CONFIG)',
      ).helpGroup('Global:'),
    )
    .addOption(
      new Option(
        '--state-dir <dir>',
        'base of the state dirs (default ./.vaultctl; env VAULTCTL_STATE_DIR)',
      ).helpGroup('Global:'),
    )
    .addOption(
      new Option('--format <format>', 'output format')
        .choices(['table', 'json', 'vault-benchmark'])
        .default('table')
        .helpGroup('Output:'),
    )
    .addOption(
      new Option('-v, --verbose', 'debug output on stderr (also DEBUG=vaultctl:*)').helpGroup('Output:'),
    )
    .addOption(
      new Option('-q, --quiet', 'no progress output, only results and warnings').helpGroup('Output:'),
    )
    .addOption(new Option('--no-color', 'no colours (also NO_COLOR=1)').helpGroup('Output:'))
    .configureOutput({
      writeErr: (s) => process.stderr.write(s),
      writeOut: (s) => process.stdout.write(s),
      // Commander's refusals are thrown (see asUsageError) and told by describeError, in the one shape.
      outputError: () => {},
    });
  for (const mod of modules) mod.register(program, deps);
  // Only bench has a report in vault-benchmark's shape; elsewhere the format would be ignored.
  program.hook('preAction', (_root, action) => {
    if (program.opts().format === 'vault-benchmark' && action.name() !== 'bench')
      throw new UsageError(
        'reading --format',
        `"vault-benchmark" is a format of \`vaultctl bench\` only`,
        'use --format table or --format json',
      );
  });
  const override = (c: Command): void => {
    c.exitOverride((err) => {
      throw asUsageError(err, c);
    });
    for (const sub of c.commands) override(sub);
  };
  override(program);
  return program;
}

/** Help and version end a run with exit 0; they are not errors. */
function isHelpOrVersion(err: CommanderError): boolean {
  return ['commander.helpDisplayed', 'commander.version', 'commander.help'].includes(err.code);
}

/**
 * Commander's refusal of the command line (unknown option, bad choice, missing argument) as a
 * UsageError, so that it reads like every other error and names the help of the command at fault.
 * Help and version stay CommanderErrors: describeError ends those with 0.
 */
export function asUsageError(err: CommanderError, cmd?: Command): CommanderError | UsageError {
  if (isHelpOrVersion(err)) return err;
  const names: string[] = [];
  for (let c: Command | null = cmd ?? null; c; c = c.parent) names.unshift(c.name());
  const path = names.length > 0 ? names.join(' ') : 'vaultctl';
  return new UsageError(
    'reading the command line',
    // A suggestion ("(Did you mean health?)") comes on a line of its own: keep the cause one line.
    err.message.replace(/^error: /, '').replace(/\s*\n\s*/g, ' '),
    `see ${path} --help`,
    { cause: err },
  );
}

/** What a first SIGINT (Ctrl-C) or SIGTERM prints: a second one of either quits at once. */
export function cancellingMessage(signal: NodeJS.Signals): string {
  return signal === 'SIGINT'
    ? 'cancelling (press Ctrl-C again to quit at once)...'
    : `cancelling on ${signal} (send it again to quit at once)...`;
}

/**
 * Makes a closed stdout or stderr (EPIPE: the reader of a pipe exited) harmless: what is written to
 * it is dropped and the command finishes what it started, instead of dying of an unhandled stream
 * error in the middle of a destructive operation.
 */
export function guardClosedOutput(streams: readonly NodeJS.WritableStream[]): void {
  // Once per stream and for the life of the process: a write that fails after main returned (the
  // last line of a result) must not turn a finished run into a crash.
  for (const s of streams) {
    if (guarded.has(s)) continue;
    guarded.add(s);
    s.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED') return;
      throw err;
    });
  }
}

const guarded = new WeakSet<NodeJS.WritableStream>();

export async function main(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const verbose = argv.includes('-v') || argv.includes('--verbose') || debugEnabled(env);
  const quiet = argv.includes('-q') || argv.includes('--quiet');
  const jsonMode = argv.some((a, i) => (a === '--format' && argv[i + 1] === 'json') || a === '--format=json');
  if (env.NO_COLOR || argv.includes('--no-color')) chalk.level = 0;

  const controller = new AbortController();
  let interrupts = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    interrupts += 1;
    if (interrupts > 1) process.exit(ExitCode.cancelled);
    process.stderr.write(`\n${cancellingMessage(signal)}\n`);
    controller.abort(new Error(signal === 'SIGINT' ? 'cancelled by the user' : `cancelled by ${signal}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // `vaultctl down | head -3`: a reader that went away must not stop the operation halfway.
  guardClosedOutput([process.stdout, process.stderr]);

  const progress = new StderrProgress({ stream: process.stderr, quiet, verbose });
  let exitCode = 0;
  const deps: CommandDeps = {
    env,
    cwd: process.cwd(),
    out: (t) => process.stdout.write(`${t}\n`),
    progress,
    signal: controller.signal,
    runtime: (() => {
      let r: DockerRuntime | undefined;
      return () => {
        r ??= new DockerRuntime();
        return r;
      };
    })(),
    interactive: Boolean(process.stdin.isTTY && process.stderr.isTTY),
    prompt: promptOnTty,
    setExitCode: (c) => {
      exitCode = c;
    },
  };
  try {
    await (await loadProgram(deps, argv.slice(2))).parseAsync([...argv]);
    // A command that returned its last observation after the signal (health --wait) was cancelled all the same.
    return controller.signal.aborted && exitCode !== ExitCode.ok ? ExitCode.cancelled : exitCode;
  } catch (err) {
    progress.stop();
    return reportError(err, controller.signal.aborted, jsonMode, verbose);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** What the user is told about an error: the exit code, and the text and JSON payload, if any. */
export interface ErrorReport {
  readonly code: number;
  /** Absent when the command's own output already said it (a failed check). */
  readonly text?: string;
  readonly payload?: Record<string, unknown>;
}

/**
 * The mapping of errors to exit codes. A run the user aborted reports "cancelled" (130) whatever
 * failed on the way out, since aborting in-flight requests makes them fail; a usage error still
 * reports itself.
 */
export function describeError(err: unknown, aborted: boolean, verbose = false): ErrorReport {
  if (err instanceof CommanderError) {
    // Help and version are not errors; commander already printed them.
    if (isHelpOrVersion(err)) return { code: 0 };
    return describeError(asUsageError(err), aborted, verbose);
  }
  if (
    aborted &&
    !(err instanceof VaultctlError && (err.exitCode === ExitCode.usage || err instanceof LeftoverError))
  ) {
    const doing = err instanceof VaultctlError ? err.doing : 'running the command';
    return {
      code: ExitCode.cancelled,
      text: `Error ${doing}: cancelled; what this run created was removed`,
      payload: { doing, message: 'cancelled', exitCode: ExitCode.cancelled },
    };
  }
  if (err instanceof CheckFailedError) return { code: err.exitCode };
  if (err instanceof VaultctlError) {
    let text = err.render();
    if (verbose && err.cause instanceof Error && err.cause.stack) text += `\n${chalk.gray(err.cause.stack)}`;
    if (err instanceof LeftoverError && err.afterReport) return { code: err.exitCode, text };
    return {
      code: err.exitCode,
      text,
      payload: {
        doing: err.doing,
        message: err.message,
        hint: err.hint,
        exitCode: err.exitCode,
        ...(err instanceof LeftoverError ? { leftover: err.leftover } : {}),
        // A script needs each problem with its path, not only their count.
        ...(err instanceof ConfigError ? { problems: err.problems } : {}),
      },
    };
  }
  const e = err instanceof Error ? err : new Error(String(err));
  return {
    code: ExitCode.internal,
    text: `Internal error (a bug in vaultctl): ${e.message}\n${e.stack ?? ''}\nhint: please report it with the command you ran`,
    payload: {
      doing: 'running the command',
      message: e.message,
      internal: true,
      exitCode: ExitCode.internal,
    },
  };
}

function reportError(err: unknown, aborted: boolean, jsonMode: boolean, verbose: boolean): number {
  const { code, text, payload } = describeError(err, aborted, verbose);
  if (jsonMode && payload) process.stdout.write(`${JSON.stringify({ error: payload }, null, 2)}\n`);
  if (text)
    process.stderr.write(
      `${chalk.red(text.split('\n')[0])}${text.includes('\n') ? `\n${text.split('\n').slice(1).join('\n')}` : ''}\n`,
    );
  return code;
}
