import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { bootstrapCluster } from '../bootstrap/bootstrap.js';
import { requireStateDir } from '../cluster/state-check.js';
import { UsageError } from '../errors.js';
import { nodeAddress } from '../spec/names.js';
import type { CommandDeps, GlobalOptions, SpecFlags } from './command-deps.js';
import { addSpecOptions, openManagedCluster, output } from './command-deps.js';
import { action, durationFlag } from './flags.js';
import { locked } from './lock.js';

export interface InitOptions extends SpecFlags {
  readonly pgpKeys?: string;
  readonly timeout?: string;
  readonly showSecrets?: boolean;
  readonly revokeRoot?: boolean;
}

function readPgpKeys(list: string, cwd: string): string[] {
  return list.split(',').map((p) => {
    const path = resolve(cwd, p.trim());
    try {
      const raw = readFileSync(path);
      const text = raw.toString('utf8').trim();
      // Accept a base64 key file as is; binary keys are encoded.
      return /^[A-Za-z0-9+/=\s]+$/.test(text) ? text.replace(/\s+/g, '') : raw.toString('base64');
    } catch (err) {
      throw new UsageError(
        'reading PGP keys',
        `${path}: ${(err as Error).message}`,
        '--pgp-keys takes a comma-separated list of public key files, one per share',
      );
    }
  });
}

/** The flags of `init` that are not spec flags, parsed before anything is touched. */
export function parseInitOptions(opts: InitOptions): { readonly timeoutMs?: number } {
  return opts.timeout === undefined
    ? {}
    : { timeoutMs: durationFlag(opts.timeout, 'timeout', { min: 1000 }) };
}

export async function run(global: GlobalOptions, opts: InitOptions, deps: CommandDeps): Promise<number> {
  const { timeoutMs } = parseInitOptions(opts);
  const { spec, state, cluster } = openManagedCluster(global, opts, deps, 'initialising the cluster');
  await requireStateDir(spec, state, deps.runtime, 'initialising the cluster');
  const pgpKeys = opts.pgpKeys
    ? readPgpKeys(opts.pgpKeys, deps.cwd)
    : spec.seal.pgpKeys?.map((p) => readPgpKeys(p, deps.cwd)[0]!);
  const res = await bootstrapCluster(
    cluster,
    { progress: deps.progress, signal: deps.signal },
    {
      ...(timeoutMs ? { timeoutMs } : {}),
      ...(pgpKeys ? { pgpKeys } : {}),
      revokeRoot: opts.revokeRoot ?? false,
    },
  );
  deps.progress.stop();
  state.saveSpec(spec);
  const material = state.readInit();
  const nodes = spec.nodes.map((n) => ({ name: n.name, address: nodeAddress(spec, n) }));
  output(global, deps)(
    {
      cluster: spec.name,
      initialisedNow: res.initialisedNow,
      leader: res.leader,
      voters: res.voters,
      steps: res.steps,
      timings: res.timings,
      nodes,
      stateDir: state.root,
      ...(opts.showSecrets && material
        ? { keys: material.keys, keyKind: material.keyKind, rootToken: material.rootToken }
        : {}),
    },
    () => {
      const lines: string[] = [];
      lines.push(
        `Cluster ${spec.name} is initialised and healthy: leader ${res.leader}, voters ${res.voters.join(', ')}.`,
      );
      for (const n of nodes) lines.push(`  ${n.name}  ${n.address}`);
      lines.push(
        `State dir: ${state.root}  (key shares, root token and AppRole credential, mode 0600; never printed)`,
      );
      if (res.initialisedNow) {
        lines.push('Back up the state dir now: it holds the only copy of the key shares and root token.');
      }
      if (opts.showSecrets && material) {
        lines.push(
          `${material.keyKind === 'unseal' ? 'Unseal' : 'Recovery'} key shares (threshold ${material.threshold}):`,
        );
        for (const [i, k] of material.keys.entries()) lines.push(`  ${i + 1}: ${k}`);
        lines.push(`Root token: ${material.rootToken}`);
      }
      return lines;
    },
  );
  return 0;
}

export function register(program: Command, deps: CommandDeps): void {
  const cmd = program
    .command('init')
    .summary('initialise, unseal, join and configure the cluster (idempotent, resumable)')
    .description(
      'Initialises the first node and stores the key shares and root token in the state dir (0600), unseals (Shamir) or waits for ' +
        'auto-unseal, joins and unseals the followers, waits for every voter, then configures autopilot, the audit device, KV v2, ' +
        'the policies and the AppRole role. Run it again after an interruption: it finishes the job.\n\n' +
        'Example:\n  $ vaultctl up && vaultctl init',
    )
    .option(
      '--pgp-keys <files>',
      'comma-separated PGP public key files, one per share: stored shares are encrypted to them',
    )
    .option('--timeout <duration>', 'budget for each wait, e.g. 2m or 90s (default 90s)')
    .option('--show-secrets', 'also print the key shares and root token (they are always in the state dir)')
    .option(
      '--revoke-root',
      'create an admin credential (AppRole, policy admin), check it, then revoke the root token',
    );
  addSpecOptions(cmd).action(
    action(deps.setExitCode, (global, opts: InitOptions) =>
      locked(global, deps, 'init', () => run(global, opts, deps)),
    ),
  );
}
