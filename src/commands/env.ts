import { join } from 'node:path';
import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import { endpointAddress, nodeAddress } from '../spec/names.js';
import { tlsPaths } from '../tls/tls.js';
import type { CommandDeps, GlobalOptions } from './command-deps.js';
import { loadClusterSpec, output } from './command-deps.js';
import { action } from './flags.js';

export interface EnvOptions {
  readonly node?: string;
  readonly showSecrets?: boolean;
}

/** Single-quotes a value for POSIX shells. */
function shellQuote(v: string): string {
  return /^[A-Za-z0-9_./:@=-]+$/.test(v) ? v : `'${v.replace(/'/g, `'\\''`)}'`;
}

export async function run(global: GlobalOptions, opts: EnvOptions, deps: CommandDeps): Promise<number> {
  const { spec, state } = loadClusterSpec(global, {}, deps, 'printing the environment');
  const node = opts.node ? spec.nodes.find((n) => n.name === opts.node) : spec.nodes[0];
  if (opts.node && !node) {
    throw new UsageError(
      'printing the environment',
      `no node named "${opts.node}"`,
      `nodes: ${spec.nodes.map((n) => n.name).join(', ')}`,
    );
  }
  const vars: Record<string, string> = {};
  // The endpoint follows the active node; a node's own address only when asked for (--node).
  const addr = (opts.node ? undefined : endpointAddress(spec)) ?? nodeAddress(spec, node!);
  const tls = tlsPaths(state);
  for (const prefix of ['BAO', 'VAULT']) {
    vars[`${prefix}_ADDR`] = addr;
    if (spec.tls.enabled) vars[`${prefix}_CACERT`] = tls.caCert;
    if (spec.tls.requireClientCert) {
      vars[`${prefix}_CLIENT_CERT`] = join(tls.clientDir, 'cert.pem');
      vars[`${prefix}_CLIENT_KEY`] = join(tls.clientDir, 'key.pem');
    }
  }
  vars.VAULTCTL_NODE_ADDRS = spec.nodes.map((n) => nodeAddress(spec, n)).join(',');
  if (opts.showSecrets) {
    const token = state.readInit()?.rootToken;
    if (!token)
      throw new UsageError(
        'printing the environment',
        `no root token in ${state.initFile}`,
        'run `vaultctl init` first',
      );
    vars.BAO_TOKEN = token;
    vars.VAULT_TOKEN = token;
  }
  output(global, deps)(vars, () => {
    const lines: string[] = [];
    for (const [k, v] of Object.entries(vars)) lines.push(`export ${k}=${shellQuote(v)}`);
    if (!opts.showSecrets)
      lines.push('# the token is not printed; add --show-secrets to export BAO_TOKEN/VAULT_TOKEN');
    return lines;
  });
  return 0;
}

export function register(program: Command, deps: CommandDeps): void {
  program
    .command('env')
    .summary('print the shell exports that point bao/vault and SDKs at the cluster')
    .description(
      'Prints BAO_ADDR/VAULT_ADDR (the active-node endpoint; a node with --node) and VAULTCTL_NODE_ADDRS (every node), and, with TLS, BAO_CACERT/VAULT_CACERT (and client certificate variables for mutual TLS). ' +
        'The token only with --show-secrets.\n\nExample:\n  $ eval "$(vaultctl env)" && bao status',
    )
    .option('--node <name>', 'point at this node instead of the endpoint')
    .option('--show-secrets', 'also export the root token (BAO_TOKEN/VAULT_TOKEN)')
    .action(action(deps.setExitCode, (global, opts: EnvOptions) => run(global, opts, deps)));
}
