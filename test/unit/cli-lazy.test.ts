import { describe, expect, it } from 'vitest';
import { COMMAND_MODULES, modulesFor } from '../../src/cli.js';

const loaderOf = (name: string) => COMMAND_MODULES.find(([n]) => n === name)?.[1];

describe('modulesFor: the command modules one command line loads', () => {
  it('loads only the module of the command named, past global options and their values', () => {
    expect(modulesFor(['--cluster', 'up', '--format', 'json', 'health', '--wait', '60s'])).toEqual([
      loaderOf('health'),
    ]);
    expect(modulesFor(['-c', 'x.yaml', '--state-dir=/tmp/s', 'snapshot', 'save'])).toEqual([
      loaderOf('snapshot'),
    ]);
    expect(modulesFor(['tls', 'rotate', '--help'])).toEqual([loaderOf('tls')]);
  });

  it('loads none for a bare --version', () => {
    expect(modulesFor(['--version'])).toEqual([]);
    expect(modulesFor(['-V'])).toEqual([]);
  });

  it('loads every module for the help, `help`, no command and an unknown command', () => {
    for (const args of [[], ['--help'], ['help', 'health'], ['helth'], ['--version', '--help']])
      expect(modulesFor(args)).toHaveLength(COMMAND_MODULES.length);
  });

  it('lists each top-level command once, each loader giving a register function', async () => {
    const names = COMMAND_MODULES.map(([n]) => n);
    expect(new Set(names).size).toBe(names.length);
    const env = await (loaderOf('env') as () => Promise<{ register: unknown }>)();
    expect(typeof env.register).toBe('function');
  });
});
