import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { checkAddressedNodes } from '../bootstrap/addressed.js';
import { bootstrapCluster } from '../bootstrap/bootstrap.js';
import { openAddressedCluster, type RunningCluster } from '../cluster/running.js';
import { requireStateDir } from '../cluster/state-check.js';
import { UsageError } from '../errors.js';
import type { ClusterSpec } from '../spec/schema.js';
import type { StateDir } from '../state/state-dir.js';
import { connectVaultNode } from '../vault/api.js';
import type { CommandDeps, GlobalOptions, SpecFlags } from './command-deps.js';
import {
  addressTargets,
  addSpecOptions,
  loadClusterSpec,
  openManagedCluster,
  output,
  resolveTls,
} from './command-deps.js';
import { action, durationFlag } from './flags.js';
import { locked } from './lock.js';

export interface InitOptions extends SpecFlags {
  readonly pgpKeys?: string;
  readonly timeout?: string;
  readonly showSecrets?: boolean;
  readonly revokeRoot?: boolean;
  /** Nodes of a cluster vaultctl did not start (repeatable, comma-separated). */
  readonly addr?: string[];
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

/** `--addr`, else VAULTCTL_NODE_ADDRS (comma-separated); undefined for the cluster vaultctl runs. */
export function initAddresses(opts: InitOptions, env: NodeJS.ProcessEnv): string[] | undefined {
  if (opts.addr && opts.addr.length > 0) return opts.addr;
  return env.VAULTCTL_NODE_ADDRS?.trim() ? [env.VAULTCTL_NODE_ADDRS] : undefined;
}

/**
 * The cluster `init` works on. By address: the spec (from --cluster, vaultctl.yaml, flags) says
 * what to configure and picks the state dir; the nodes are the addresses, named after the spec's
 * nodes in order, checked (`checkAddressedNodes`) before anything changes.
 */
async function openInitTarget(
  global: GlobalOptions,
  opts: InitOptions,
  deps: CommandDeps,
): Promise<{ spec: ClusterSpec; state: StateDir; cluster: RunningCluster }> {
  const list = initAddresses(opts, deps.env);
  if (!list) {
    const managed = openManagedCluster(global, opts, deps, 'initialising the cluster');
    // Without its saved spec the defaults' ports may be another cluster's: refuse before any request.
    await requireStateDir(managed.spec, managed.state, deps.runtime, 'initialising the cluster');
    return managed;
  }
  const doing = 'initialising the cluster by address';
  const { spec, state } = loadClusterSpec(global, opts, deps, doing);
  const targets = addressTargets(list);
  const cluster = openAddressedCluster({
    addresses: targets.map((t, i) => ({ name: spec.nodes[i]?.name ?? t.name, address: t.address })),
    tls: resolveTls(deps, spec, state),
    connect: connectVaultNode,
  });
  await checkAddressedNodes(
    cluster.nodes.map((n) => ({ name: n.name, address: n.address, api: n.api({ token: undefined }) })),
    {
      clusterName: spec.name,
      haveKeys: state.readInit() !== undefined,
      initFile: state.initFile,
      expectedNodes: spec.nodes.length,
    },
  );
  return { spec, state, cluster };
}

export async function run(global: GlobalOptions, opts: InitOptions, deps: CommandDeps): Promise<number> {
  const { timeoutMs } = parseInitOptions(opts);
  const { spec, state, cluster } = await openInitTarget(global, opts, deps);
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
      config: { spec, state },
    },
  );
  deps.progress.stop();
  state.saveSpec(spec);
  const material = state.readInit();
  const nodes = cluster.nodes.map((n) => ({ name: n.name, address: n.address }));
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
        'A cluster vaultctl did not start (docker-compose, Kubernetes) is given by its node addresses: --addr, repeated or ' +
        'comma-separated, or VAULTCTL_NODE_ADDRS; --cluster names the state dir that keeps its keys.\n\n' +
        'Example:\n  $ vaultctl up && vaultctl init\n' +
        '  $ vaultctl --cluster prod init --addr https://127.0.0.1:8200,https://127.0.0.1:8202,https://127.0.0.1:8204',
    )
    .option(
      '--addr <url...>',
      'node addresses of a cluster vaultctl did not start (repeat or comma-separate)',
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
