/**
 * The flag grammar of every command, parsed once into typed values (in the spirit of Vault's
 * command/base_flags.go): durations, counts, numbers, ratios and sizes each have one parser and one
 * error shape, `Error reading --<flag>: "<value>" is not ...` with a hint, exit 1.
 *
 * Durations: a sequence of <number><unit>, units ms, s, m, h, d (`500ms`, `90s`, `2m`, `1h30m`,
 * `30d`). A bare number means seconds, for every duration flag alike (`--timeout 90` is 90 s).
 */
import type { Command } from 'commander';
import { parseDuration } from '../cluster/poll.js';
import { UsageError } from '../errors.js';
import type { OutputFormat } from '../output/format.js';

const DURATION_HINT = 'give a duration such as 90s, 2m, 1h30m or 30d (a bare number means seconds)';

/** A duration flag, in milliseconds; `min` (ms) refuses a zero budget where one makes no sense. */
export function durationFlag(value: string, name: string, opts: { min?: number } = {}): number {
  const ms = parseDuration(value);
  if (ms === undefined)
    throw new UsageError(`reading --${name}`, `"${value}" is not a duration`, `--${name}: ${DURATION_HINT}`);
  if (opts.min !== undefined && ms < opts.min)
    throw new UsageError(
      `reading --${name}`,
      `"${value}" is shorter than ${opts.min / 1000} s`,
      `--${name} takes at least ${opts.min / 1000}s`,
    );
  return ms;
}

function range(min: number, max: number): string {
  return Number.isFinite(max) ? `from ${min} to ${max}` : `of at least ${min}`;
}

function interval(min: number, max: number): string {
  return Number.isFinite(max) ? `in [${min}, ${max}]` : `of at least ${min}`;
}

/** A whole number (count of nodes, rounds, snapshots to keep) within [min, max]. */
export function countFlag(value: string, name: string, min = 0, max = Number.POSITIVE_INFINITY): number {
  const t = value.trim();
  const n = /^\d+$/.test(t) ? Number(t) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max)
    throw new UsageError(
      `reading --${name}`,
      `"${value}" is not a whole number ${interval(min, max)}`,
      `--${name} takes a whole number ${range(min, max)}, e.g. --${name} ${Math.max(min, 1)}`,
    );
  return n;
}

/** A number that may have a fraction (a rate per second) within [min, max]. */
export function numberFlag(value: string, name: string, min: number, max = Number.POSITIVE_INFINITY): number {
  const t = value.trim();
  const n = /^\d+(\.\d+)?$|^\.\d+$/.test(t) ? Number(t) : Number.NaN;
  if (!Number.isFinite(n) || n < min || n > max)
    throw new UsageError(
      `reading --${name}`,
      `"${value}" is not a number ${interval(min, max)}`,
      `--${name} takes a number ${range(min, max)}`,
    );
  return n;
}

/** A share from 0 to 1 (`0.9`). */
export function ratioFlag(value: string, name: string): number {
  return numberFlag(value, name, 0, 1);
}

const SIZE_UNITS: Readonly<Record<string, number>> = {
  '': 1,
  b: 1,
  kb: 1000,
  mb: 1000 ** 2,
  gb: 1000 ** 3,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
};

/** A size in bytes: `512`, `64KiB`, `10MB`, `1GiB` (decimal KB/MB/GB, binary KiB/MiB/GiB). */
export function sizeFlag(value: string, name: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(value.trim());
  const factor = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || factor === undefined)
    throw new UsageError(
      `reading --${name}`,
      `"${value}" is not a size`,
      `--${name} takes a size such as 512, 64KiB, 10MB or 1GiB`,
    );
  return Math.round(Number(m[1]) * factor);
}

/** One of a fixed list of words. */
export function choiceFlag<T extends string>(value: string, name: string, choices: readonly T[]): T {
  if ((choices as readonly string[]).includes(value)) return value as T;
  throw new UsageError(`reading --${name}`, `unknown value "${value}"`, `use one of ${choices.join(', ')}`);
}

/** The options every command has, typed once (see src/cli.ts for their help). */
export interface GlobalOptions {
  readonly cluster?: string;
  readonly config?: string;
  readonly stateDir?: string;
  readonly format: OutputFormat;
  readonly verbose?: boolean;
  readonly quiet?: boolean;
}

const FORMATS: readonly OutputFormat[] = ['table', 'json', 'vault-benchmark'];

function optionalString(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/** The global options as the command line set them, read from the command that runs. */
export function globalOptions(cmd: Command): GlobalOptions {
  const o: Record<string, unknown> = cmd.optsWithGlobals();
  return {
    cluster: optionalString(o.cluster),
    config: optionalString(o.config),
    stateDir: optionalString(o.stateDir),
    format: o.format === undefined ? 'table' : choiceFlag(String(o.format), 'format', FORMATS),
    verbose: o.verbose === true,
    quiet: o.quiet === true,
  };
}

/**
 * A commander action that reads the global options once and records the exit code `run` returns:
 * `run(global, ...arguments, options)`.
 */
export function action<A extends unknown[]>(
  setExitCode: (code: number) => void,
  run: (global: GlobalOptions, ...args: A) => Promise<number>,
): (...args: unknown[]) => Promise<void> {
  return async (...args: unknown[]) => {
    const cmd = args[args.length - 1] as Command;
    setExitCode(await run(globalOptions(cmd), ...(args.slice(0, -1) as A)));
  };
}
