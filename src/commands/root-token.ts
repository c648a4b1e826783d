import type { Command } from 'commander';
import { generateRootToken } from '../bootstrap/admin.js';
import { UsageError } from '../errors.js';
import type { CommandDeps, GlobalOptions } from './command-deps.js';
import { openManagedCluster, output } from './command-deps.js';
import { action } from './flags.js';

export interface RootTokenOptions {
  readonly showSecrets?: boolean;
}

export async function run(global: GlobalOptions, opts: RootTokenOptions, deps: CommandDeps): Promise<number> {
  const doing = 'generating a root token';
  const { state, cluster } = openManagedCluster(global, {}, deps, doing);
  const material = state.readInit();
  if (!material || material.keys.length === 0) {
    throw new UsageError(
      doing,
      `no key shares in ${state.initFile}`,
      'generate-root needs the recovery (or unseal) key shares init stored',
    );
  }
  if (material.pgp)
    throw new UsageError(
      doing,
      'the stored key shares are PGP-encrypted',
      'decrypt them and use `bao operator generate-root`',
    );
  // OpenBao serves generate-root only to an authenticated caller: the admin credential (or
  // BAO_TOKEN) after --revoke-root, else the stored root token.
  const api = await cluster.serving(doing);
  const token = await generateRootToken(api, material.keys, material.threshold);
  const file = `${state.root}/root-token-${new Date().toISOString().replace(/[:.]/g, '-')}.json`;
  state.writeFileAtomic(
    file,
    `${JSON.stringify({ rootToken: token, createdAt: new Date().toISOString() }, null, 2)}\n`,
    { exclusive: true },
  );
  output(global, deps)({ file, ...(opts.showSecrets ? { rootToken: token } : {}) }, () => {
    const lines: string[] = [];
    lines.push(`A new root token was generated from ${material.threshold} ${material.keyKind} key shares.`);
    lines.push(
      opts.showSecrets ? `Root token: ${token}` : `It is in ${file} (0600); --show-secrets prints it.`,
    );
    lines.push('Revoke it when you are done: bao token revoke -self');
    return lines;
  });
  return 0;
}

export function register(program: Command, deps: CommandDeps): void {
  program
    .command('root-token')
    .summary('generate a new root token from the stored key shares')
    .description(
      'Runs the generate-root protocol with the recovery (auto-unseal) or unseal (Shamir) key shares in the state dir and stores the ' +
        'new root token in a 0600 file. For break-glass use after `init --revoke-root`; revoke the token when done.\n\n' +
        'Example:\n  $ vaultctl root-token',
    )
    .option('--show-secrets', 'print the token too')
    .action(action(deps.setExitCode, (global, opts: RootTokenOptions) => run(global, opts, deps)));
}
