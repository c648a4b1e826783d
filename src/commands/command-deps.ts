/**
 * What every command shares: global options, where output goes, how the spec and the state dir
 * are found, which token to use. Commands receive a `CommandDeps` so tests can call `run` directly.
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { Option } from 'commander';

import { managedTokenSources } from '../bootstrap/admin.js';
import {
  type ManagedCluster,
  openAddressedCluster,
  openCluster,
  type RunningCluster,
} from '../cluster/running.js';

import { UsageError } from '../errors.js';
import type { StderrProgress } from '../output/progress.js';
import { type Render, renderer } from '../output/render.js';
import type { ContainerRuntime } from '../runtime/port.js';
import { loadSpec } from '../spec/load.js';
import type { ClusterSpec, SpecResult } from '../spec/schema.js';
import { DEFAULT_STATE_BASE, StateDir } from '../state/state-dir.js';
import { clientTlsFromEnv, clientTlsFromState } from '../tls/tls.js';
import { connectVaultNode } from '../vault/api.js';
import type { VaultTls } from '../vault/port.js';
import type { GlobalOptions } from './flags.js';

export type { GlobalOptions } from './flags.js';

export interface CommandDeps {
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
  /** Results: stdout. */
  readonly out: (text: string) => void;
  /** Progress and warnings: stderr. */
  readonly progress: StderrProgress;
  readonly signal: AbortSignal;
  readonly runtime: () => ContainerRuntime;
  /** True when stdin and stderr are a terminal a person can answer. */
  readonly interactive: boolean;
  /** Records the exit code of the command that ran. */
  readonly setExitCode: (code: number) => void;
  /** Asks a question on the terminal; `hidden` for key shares. */
  readonly prompt: (question: string, hidden?: boolean) => Promise<string>;
}

/** Options that shape the cluster spec; shared by render, up and init. */
export function addSpecOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option('--flavor <flavor>', 'server flavor')
        .choices(['openbao', 'vault'])
        .helpGroup('Cluster spec:'),
    )
    .addOption(
      new Option('--image <ref>', 'server image (default openbao/openbao:<pinned>)').helpGroup(
        'Cluster spec:',
      ),
    )
    .addOption(
      new Option(
        '--server-version <version>',
        'server version, e.g. 2.6.2: the image becomes openbao/openbao:<version> (or the local vaultctl/openbao:<version>)',
      ).helpGroup('Cluster spec:'),
    )
    .addOption(
      new Option('--seal <type>', 'seal type: static, shamir, awskms, transit').helpGroup('Cluster spec:'),
    )
    .addOption(new Option('--nodes <count>', 'number of nodes (odd, >= 3)').helpGroup('Cluster spec:'))
    .addOption(
      new Option(
        '--api-port <port>',
        'host port of the first node; the others follow in steps of 2',
      ).helpGroup('Cluster spec:'),
    )
    .addOption(
      new Option(
        '--bind-address <ip>',
        'host address the API ports are published on (default 127.0.0.1)',
      ).helpGroup('Cluster spec:'),
    )
    .addOption(new Option('--tls', 'TLS on every listener (the default)').helpGroup('Cluster spec:'))
    .addOption(new Option('--no-tls', 'plain HTTP (prints a warning)').helpGroup('Cluster spec:'));
}

export interface SpecFlags {
  readonly flavor?: string;
  readonly image?: string;
  readonly serverVersion?: string;
  readonly seal?: string;
  readonly nodes?: string;
  readonly apiPort?: string;
  readonly bindAddress?: string;
  readonly tls?: boolean;
  /** `up` only: run Prometheus next to the cluster. */
  readonly monitoring?: boolean;
  readonly monitoringImage?: string;
  readonly monitoringPort?: string;
  /** `up` only: run the dev KMS (moto) and seal with awskms through it. */
  readonly devKms?: boolean;
  /** `up` only: run `vaultctl agent` as a container beside the nodes. */
  readonly agent?: boolean;
}

function intOrRaw(v: string | undefined): number | string | undefined {
  if (v === undefined) return undefined;
  return /^\d+$/.test(v) ? Number(v) : v;
}

export function specFlagsLayer(global: GlobalOptions, f: SpecFlags): Record<string, unknown> {
  const layer: Record<string, unknown> = {
    name: global.cluster,
    flavor: f.flavor,
    image: f.image,
    version: f.serverVersion,
    nodeCount: intOrRaw(f.nodes),
    apiPortBase: intOrRaw(f.apiPort),
    bindAddress: f.bindAddress,
  };
  if (f.seal || f.devKms)
    layer.seal = { ...(f.seal ? { type: f.seal } : {}), ...(f.devKms ? { devKms: { enabled: true } } : {}) };
  if (f.tls !== undefined) layer.tls = { enabled: f.tls };
  if (f.agent) layer.agent = { enabled: true };
  const monitoring: Record<string, unknown> = {
    enabled: f.monitoring,
    image: f.monitoringImage,
    port: intOrRaw(f.monitoringPort),
  };
  if (Object.values(monitoring).some((v) => v !== undefined)) layer.monitoring = monitoring;
  return layer;
}

export function stateBase(global: GlobalOptions, deps: Pick<CommandDeps, 'env' | 'cwd'>): string {
  return resolve(deps.cwd, global.stateDir ?? deps.env.VAULTCTL_STATE_DIR ?? DEFAULT_STATE_BASE);
}

export interface LoadedSpec extends SpecResult {
  readonly state: StateDir;
}

/** Loads the spec from every source, prints its warnings, and opens the cluster's state dir. */
export function loadClusterSpec(
  global: GlobalOptions,
  flags: SpecFlags,
  deps: CommandDeps,
  doing?: string,
): LoadedSpec {
  const base = stateBase(global, deps);
  const result = loadSpec(
    {
      configPath: global.config,
      env: deps.env,
      flags: specFlagsLayer(global, flags),
      cwd: deps.cwd,
      readSaved: (name) => StateDir.forCluster(base, name).readSavedSpec(),
    },
    doing,
  );
  for (const w of result.warnings) deps.progress.warn(w);
  const state = StateDir.forCluster(base, result.spec.name);
  state.checkPermissions();
  return { ...result, state };
}

/**
 * TLS material for API calls: BAO_CACERT/VAULT_CACERT (and client certificate variables) first,
 * else the cluster's CA in the state dir.
 */
export function resolveTls(
  deps: Pick<CommandDeps, 'env'>,
  spec?: ClusterSpec,
  state?: StateDir,
): VaultTls | undefined {
  return clientTlsFromEnv(deps.env) ?? (spec && state ? clientTlsFromState(spec, state) : undefined);
}

function envToken(env: NodeJS.ProcessEnv): string | undefined {
  return env.BAO_TOKEN || env.VAULT_TOKEN || undefined;
}

/**
 * The cluster vaultctl manages, as one handle: spec, state dir, TLS material, the token sources
 * (BAO_TOKEN/VAULT_TOKEN, the admin credential, the stored root token) and a handle per node.
 * With `addr` (`--addr` of snapshot save, failover-drill, bench): the cluster of the state dir
 * (--cluster) reached at those addresses, one per node in the spec's order, without containers:
 * a cluster vaultctl did not start and initialised with `init --addr`.
 */
export function openManagedCluster(
  global: GlobalOptions,
  flags: SpecFlags,
  deps: CommandDeps,
  doing?: string,
  addr?: readonly string[],
): LoadedSpec & { readonly cluster: ManagedCluster } {
  const loaded = loadClusterSpec(global, flags, deps, doing);
  const { spec, state } = loaded;
  const tls = resolveTls(deps, spec, state);
  const addresses = addr && addr.length > 0 ? addressTargets(addr).map((t) => t.address) : undefined;
  if (addresses && addresses.length !== spec.nodes.length) {
    throw new UsageError(
      doing ?? 'opening the cluster',
      `${addresses.length} addresses given, but cluster ${spec.name} has ${spec.nodes.length} nodes`,
      'give one address per node, in the order `vaultctl init --addr` was given them',
    );
  }
  const cluster: ManagedCluster = openCluster({
    spec,
    state,
    tls,
    connect: connectVaultNode,
    runtime: deps.runtime,
    tokens: managedTokenSources(state, () => cluster.nodes, envToken(deps.env)),
    ...(addresses ? { addresses } : {}),
  });
  return { ...loaded, cluster };
}

/**
 * The spec and state dir of the cluster the options name, or undefined when no spec loads (the
 * command itself then says why). Quiet: for side questions (its TLS material, its lock).
 */
export function namedClusterState(
  global: GlobalOptions,
  deps: Pick<CommandDeps, 'env' | 'cwd'>,
): { spec: ClusterSpec; state: StateDir } | undefined {
  try {
    const base = stateBase(global, deps);
    const { spec } = loadSpec({
      configPath: global.config,
      env: deps.env,
      flags: specFlagsLayer(global, {}),
      cwd: deps.cwd,
      readSaved: (name) => StateDir.forCluster(base, name).readSavedSpec(),
    });
    return { spec, state: StateDir.forCluster(base, spec.name) };
  } catch {
    return undefined;
  }
}

/**
 * The CA (and client certificate) in the state dir of the cluster the options name, if it has
 * one: addresses of vaultctl's own nodes then verify without BAO_CACERT. Only TLS material: a
 * token from the state dir is never sent to an address the user typed. No usable spec or state
 * dir: the environment's TLS settings alone apply.
 */
function stateDirTls(global: GlobalOptions, deps: CommandDeps): VaultTls | undefined {
  const named = namedClusterState(global, deps);
  return named ? clientTlsFromState(named.spec, named.state) : undefined;
}

/** Nodes named by `--addr` (repeatable, comma-separated) or one BAO_ADDR/VAULT_ADDR. */
export function addressTargets(list: readonly string[]): { name: string; address: string }[] {
  return list
    .flatMap((a) => a.split(','))
    .map((a) => a.trim())
    .filter(Boolean)
    .map((address) => {
      let url: URL;
      try {
        url = new URL(address);
      } catch {
        throw new UsageError(
          'reading --addr',
          `"${address}" is not a URL`,
          'give addresses like http://127.0.0.1:8200',
        );
      }
      return { name: url.host, address: address.replace(/\/$/, '') };
    });
}

/**
 * The cluster a read-only command works on: the nodes of `--addr`, else BAO_ADDR/VAULT_ADDR, else
 * the cluster vaultctl manages. A cluster given by addresses uses the environment's token and TLS.
 */
export function openTargetCluster(
  global: GlobalOptions,
  addr: readonly string[] | undefined,
  deps: CommandDeps,
  doing: string,
): RunningCluster {
  const envAddr = deps.env.BAO_ADDR || deps.env.VAULT_ADDR;
  const list = addr && addr.length > 0 ? addr : envAddr ? [envAddr] : undefined;
  if (!list) return openManagedCluster(global, {}, deps, doing).cluster;
  return openAddressedCluster({
    addresses: addressTargets(list),
    tls: resolveTls(deps) ?? stateDirTls(global, deps),
    connect: connectVaultNode,
    tokens: { envToken: envToken(deps.env) },
  });
}

/** Refuses a destructive action without --yes when nobody can be asked. */
export async function confirm(
  deps: CommandDeps,
  question: string,
  yes: boolean | undefined,
  doing: string,
  what: { action: string; undone: string } = { action: 'this removes data', undone: 'nothing was removed' },
): Promise<void> {
  if (yes) return;
  if (!deps.interactive) {
    throw new UsageError(
      doing,
      `${what.action} and needs confirmation, but there is no terminal to ask`,
      'pass --yes to confirm',
    );
  }
  const answer = (await deps.prompt(`${question} [y/N] `)).trim().toLowerCase();
  if (answer !== 'y' && answer !== 'yes')
    throw new UsageError(doing, `not confirmed; ${what.undone}`, 'answer y to go on, or pass --yes');
}

/** Prints a command's result in the format the user chose (`--format`), on stdout. */
export function output(global: GlobalOptions, deps: Pick<CommandDeps, 'out'>): Render {
  return renderer(global.format, deps.out);
}
