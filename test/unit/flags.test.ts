/**
 * The flag grammar (src/commands/flags.ts): one parser per kind of value, one error shape
 * ("Error reading --<flag>: ..." with a hint, exit 1), and the commands that used to parse their
 * own: `init --timeout 2m` (was 2 s), `init --timeout abc` (was the default), `snapshot prune
 * --max-age` (was the `d` stripped), `failover-drill --fault seal` with flags it cannot honour
 * (were ignored).
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, describe, expect, it } from 'vitest';
import { parseDrillOptions, refuseFlagsNotForSeal } from '../../src/commands/failover-drill.js';
import {
  countFlag,
  durationFlag,
  globalOptions,
  numberFlag,
  ratioFlag,
  sizeFlag,
} from '../../src/commands/flags.js';
import { parseInitOptions } from '../../src/commands/init.js';
import { UsageError } from '../../src/errors.js';
import { type Run, runMain } from '../helpers/main-in-process.js';

const work = mkdtempSync(join(tmpdir(), 'vaultctl-unit-flags-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function refusal(fn: () => unknown): UsageError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return err as UsageError;
  }
  throw new Error('expected a refusal, got none');
}

async function run(args: string[]): Promise<Run> {
  return runMain(['--state-dir', join(work, 'state'), ...args]);
}

describe('durations', () => {
  it.each([
    ['90s', 90_000],
    ['2m', 120_000],
    ['1h30m', 5_400_000],
    ['30d', 30 * 86_400_000],
    ['1d12h', 36 * 3_600_000],
    ['500ms', 500],
    ['1.5s', 1500],
    // A bare number means seconds, for every duration flag alike.
    ['90', 90_000],
  ])('%s is %d ms', (text, ms) => {
    expect(durationFlag(text, 'timeout')).toBe(ms);
  });

  it.each(['abc', '', '2 m', '-5s', '5x', 'd', '1h30'])('%j is refused with the flag and a hint', (text) => {
    const e = refusal(() => durationFlag(text, 'timeout'));
    expect(e.render()).toBe(
      `Error reading --timeout: "${text}" is not a duration\nhint: --timeout: give a duration such as 90s, 2m, 1h30m or 30d (a bare number means seconds)`,
    );
    expect(e.exitCode).toBe(1);
  });

  it('a minimum refuses a budget too short to mean anything', () => {
    expect(refusal(() => durationFlag('0s', 'timeout', { min: 1000 })).message).toBe(
      '"0s" is shorter than 1 s',
    );
  });
});

describe('counts, numbers, ratios, sizes', () => {
  it('a count is a whole number in range', () => {
    expect(countFlag('3', 'rounds', 1, 1000)).toBe(3);
    for (const bad of ['0', '1.5', 'x', '', '1e3', '-1'])
      expect(refusal(() => countFlag(bad, 'rounds', 1, 1000)).render()).toBe(
        `Error reading --rounds: "${bad}" is not a whole number in [1, 1000]\nhint: --rounds takes a whole number from 1 to 1000, e.g. --rounds 1`,
      );
  });

  it('a number may have a fraction; a ratio is a number from 0 to 1', () => {
    expect(numberFlag('0.5', 'rate', 0.1, 10)).toBe(0.5);
    expect(refusal(() => numberFlag('0x10', 'rate', 0.1, 10)).doing).toBe('reading --rate');
    expect(ratioFlag('0.9', 'read-ratio')).toBe(0.9);
    expect(refusal(() => ratioFlag('1.1', 'read-ratio')).hint).toBe(
      '--read-ratio takes a number from 0 to 1',
    );
  });

  it('sizes: decimal and binary units', () => {
    expect(sizeFlag('512', 'max-size')).toBe(512);
    expect(sizeFlag('64KiB', 'max-size')).toBe(65_536);
    expect(sizeFlag('10MB', 'max-size')).toBe(10_000_000);
    expect(sizeFlag('1GiB', 'max-size')).toBe(1024 ** 3);
    expect(refusal(() => sizeFlag('10 parsecs', 'max-size')).render()).toContain(
      'Error reading --max-size: "10 parsecs" is not a size',
    );
  });
});

describe('global options, typed once', () => {
  it('reads the options of the program from the command that runs', () => {
    const program = new Command('vaultctl')
      .option('--cluster <name>')
      .option('--format <f>', '', 'table')
      .option('-q, --quiet');
    let seen: unknown;
    program.command('health').action((_o, c: Command) => {
      seen = globalOptions(c);
    });
    program.parse(['node', 'vaultctl', '--cluster', 'c1', '--format', 'json', 'health', '-q'], {
      from: 'node',
    });
    expect(seen).toEqual({
      cluster: 'c1',
      config: undefined,
      stateDir: undefined,
      format: 'json',
      verbose: false,
      quiet: true,
    });
  });
});

describe('init --timeout (issue 26 item 5)', () => {
  it('2m is a budget of 2 minutes, not 2 seconds', () => {
    expect(parseInitOptions({ timeout: '2m' }).timeoutMs).toBe(120_000);
    expect(parseInitOptions({ timeout: '90' }).timeoutMs).toBe(90_000);
    expect(parseInitOptions({})).toEqual({});
  });

  it('abc is refused, exit 1, before any cluster is touched', async () => {
    const r = await run(['init', '--timeout', 'abc']);
    expect(r.code).toBe(1);
    expect(r.stderr.split('\n')[0]).toBe('Error reading --timeout: "abc" is not a duration');
    expect(r.stderr).toContain('hint: --timeout: give a duration');
  });
});

describe('snapshot prune --max-age', () => {
  it('takes any duration with days (1d12h), parsed, not by stripping the d', async () => {
    const dir = join(work, 'snaps');
    mkdirSync(dir, { recursive: true });
    const r = await run(['snapshot', 'prune', '--dir', dir, '--keep', '1', '--max-age', '1d12h']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('Nothing to prune.\n');
  });

  it('refuses what is not a duration with the flag named', async () => {
    const r = await run(['snapshot', 'prune', '--dir', work, '--keep', '1', '--max-age', '30days']);
    expect(r.code).toBe(1);
    expect(r.stderr.split('\n')[0]).toBe('Error reading --max-age: "30days" is not a duration');
  });
});

describe('failover-drill --fault seal refuses the flags it cannot honour', () => {
  const base = { fault: 'seal', rate: '20', duration: '10s', healTimeout: '90s' };

  it.each([
    [{ target: 'leader' }, '--target'],
    [{ rounds: '3' }, '--rounds'],
    [{ maxRto: '5s' }, '--max-rto'],
    [{ readRate: '5' }, '--read-rate'],
    [{ partitionMethod: 'peers' }, '--partition-method'],
    [{ endpoint: false }, '--no-endpoint'],
  ])('%o: refused, naming %s', (extra, flag) => {
    const e = refusal(() => refuseFlagsNotForSeal({ ...base, ...extra }));
    expect(e.message).toContain(`--fault seal cannot honour ${flag}`);
    expect(e.hint).toContain('only --rate, --duration, --heal-timeout and --yes apply');
  });

  it('without them it goes on; the other faults still get their defaults', () => {
    expect(() => refuseFlagsNotForSeal(base)).not.toThrow();
    const cfg = parseDrillOptions({ ...base, fault: 'kill' });
    expect(cfg.target).toBe('leader');
    expect(cfg.rounds).toBe(1);
    expect(cfg.maxRtoMs).toBe(5000);
  });

  it('through the CLI: exit 1 before any cluster is opened', async () => {
    const r = await run(['failover-drill', '--fault', 'seal', '--rounds', '3', '--max-rto', '2s', '--yes']);
    expect(r.code).toBe(1);
    expect(r.stderr.split('\n')[0]).toBe(
      'Error reading the failover-drill flags: --fault seal cannot honour --rounds, --max-rto: the seal drill takes the seal backend away once and restarts every node',
    );
  });
});
