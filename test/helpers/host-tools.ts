/**
 * Unit tests that run a host tool (promtool, age, docker-compose) say so in their name. When the
 * tool is missing they are skipped on a developer's machine, with the reason in the name, and FAIL
 * in CI (CI=true): there scripts/setup.sh has installed every tool, so a missing one is a broken
 * setup that a skip would hide.
 */
import { spawnSync } from 'node:child_process';
import { it } from 'vitest';

const found = new Map<string, boolean>();

/** True when `tool` runs (`tool --version`, or `versionArgs`). */
export function hasTool(tool: string, versionArgs: readonly string[] = ['--version']): boolean {
  let ok = found.get(tool);
  if (ok === undefined) {
    ok = !spawnSync(tool, [...versionArgs], { stdio: 'ignore' }).error;
    found.set(tool, ok);
  }
  return ok;
}

type Body = () => unknown;

/** `it` for a test that needs `tool`: run, skipped with the reason, or failed in CI. */
export function itNeeds(
  tool: string,
  opts: { readonly versionArgs?: readonly string[]; readonly env?: NodeJS.ProcessEnv } = {},
): (name: string, fn: Body, timeout?: number) => void {
  const env = opts.env ?? process.env;
  const label = (name: string) => `${name} [needs ${tool}]`;
  if (hasTool(tool, opts.versionArgs)) return (name, fn, timeout) => it(label(name), fn, timeout);
  if (env.CI === 'true' || env.CI === '1')
    return (name, _fn, timeout) =>
      it(
        label(name),
        () => {
          throw new Error(`${tool} is not installed; in CI it must be (bash scripts/setup.sh installs it)`);
        },
        timeout,
      );
  return (name, fn, timeout) => it.skip(`${label(name)}: not installed, skipped`, fn, timeout);
}
