import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommanderError } from 'commander';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { describeError } from '../../src/cli.js';
import {
  CancelledError,
  CheckFailedError,
  ConfigError,
  ExitCode,
  errorMessage,
  isAbortError,
  RemoteError,
  throwIfAborted,
  UsageError,
} from '../../src/errors.js';
import { inspectBinary, inspectElf } from '../../src/image/image.js';
import { demuxDockerLog } from '../../src/runtime/docker-spec.js';
import { REPO_ROOT } from '../helpers/paths.js';

describe('errors', () => {
  it('UsageError exits 1 and renders "Error <doing>: <cause>" with a hint line', () => {
    const e = new UsageError('starting vault-1', 'port 8200 is taken', 'choose another port');
    expect(e.exitCode).toBe(1);
    expect(e.name).toBe('UsageError');
    expect(e.message).toBe('port 8200 is taken');
    expect(e.render()).toBe('Error starting vault-1: port 8200 is taken\nhint: choose another port');
  });

  it('renders no hint line without a hint', () => {
    expect(new UsageError('reading x', 'gone').render()).toBe('Error reading x: gone');
  });

  it('RemoteError exits 2 and keeps its cause', () => {
    const cause = new Error('ECONNREFUSED');
    const e = new RemoteError('listing containers', 'cannot reach the Docker Engine', 'is it running?', {
      cause,
    });
    expect(e.exitCode).toBe(2);
    expect(e.cause).toBe(cause);
    expect(e.render()).toBe('Error listing containers: cannot reach the Docker Engine\nhint: is it running?');
  });

  it('CancelledError exits 130 with the cause "cancelled"', () => {
    const e = new CancelledError('waiting for vault-1');
    expect(e.exitCode).toBe(130);
    expect(e.render()).toBe('Error waiting for vault-1: cancelled');
    expect(isAbortError(e)).toBe(true);
  });

  it('ConfigError exits 1, counts its problems and renders each', () => {
    const e = new ConfigError('reading the spec', [{ path: 'seal.type', message: 'bad' }], 'fix it');
    expect(e.exitCode).toBe(1);
    expect(e.render()).toBe(
      'Error reading the spec: 1 problem in the cluster spec\n  - seal.type: bad\nhint: fix it',
    );
  });

  it('CheckFailedError exits 3 and names every failed check', () => {
    const e = new CheckFailedError('running the benchmark', ['write p99 < 50 ms', 'error rate < 0.1 %']);
    expect(e.exitCode).toBe(3);
    expect(e.failed).toEqual(['write p99 < 50 ms', 'error rate < 0.1 %']);
    expect(e.render()).toBe(
      'Error running the benchmark: 2 checks failed: write p99 < 50 ms; error rate < 0.1 %',
    );
  });

  it('every exit code the CLI can return is in the README table, and no other', () => {
    const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
    const section = readme.slice(
      readme.indexOf('## Exit codes'),
      readme.indexOf('## ', readme.indexOf('## Exit codes') + 5),
    );
    const documented = [...section.matchAll(/^\| (\d+) \|/gm)].map((m) => Number(m[1]));
    const returned = [
      new UsageError('x', 'y'),
      new ConfigError('x', []),
      new RemoteError('x', 'y'),
      new CheckFailedError('x', ['y']),
      new Error('a bug'),
      new CancelledError('x'),
    ].map((e) => describeError(e, false).code);
    expect(documented).toEqual([...new Set([ExitCode.ok, ...returned])].sort((a, b) => a - b));
  });
  it('throwIfAborted throws CancelledError only for a fired signal', () => {
    const ac = new AbortController();
    expect(() => throwIfAborted(ac.signal, 'x')).not.toThrow();
    expect(() => throwIfAborted(undefined, 'x')).not.toThrow();
    ac.abort();
    expect(() => throwIfAborted(ac.signal, 'bootstrapping')).toThrow(CancelledError);
  });

  it('isAbortError recognises DOM AbortErrors and nothing else', () => {
    const abort = new Error('aborted');
    abort.name = 'AbortError';
    expect(isAbortError(abort)).toBe(true);
    expect(isAbortError(new Error('x'))).toBe(false);
    expect(isAbortError('AbortError')).toBe(false);
  });

  it('errorMessage handles errors and other values', () => {
    expect(errorMessage(new Error('boom'))).toBe('boom');
    expect(errorMessage('plain')).toBe('plain');
    expect(errorMessage(42)).toBe('42');
  });
});

describe('describeError (the one mapping of errors to exit codes)', () => {
  it('a vaultctl error: its exit code, its rendered text, and a JSON payload', () => {
    const r = describeError(new RemoteError('reading vault-1', 'HTTP 500', 'retry'), false);
    expect(r).toEqual({
      code: 2,
      text: 'Error reading vault-1: HTTP 500\nhint: retry',
      payload: { doing: 'reading vault-1', message: 'HTTP 500', hint: 'retry', exitCode: 2 },
    });
    expect(
      describeError(new ConfigError('reading the spec', [{ path: 'a', message: 'b' }]), false).code,
    ).toBe(1);
  });

  it('a spec error: the JSON payload lists every problem with its path', () => {
    const problems = [
      { path: 'colour', message: 'unknown field' },
      { path: 'nodeCount', message: 'a Raft cluster needs an odd number of nodes' },
    ];
    const r = describeError(new ConfigError('validating the cluster spec', problems, 'fix them'), false);
    expect(r.payload).toEqual({
      doing: 'validating the cluster spec',
      message: '2 problems in the cluster spec',
      hint: 'fix them',
      exitCode: 1,
      problems,
    });
    expect(describeError(new UsageError('x', 'y'), false).payload).not.toHaveProperty('problems');
  });

  it('a failed check: exit 3 and nothing more to print (the report on stdout says which)', () => {
    expect(
      describeError(new CheckFailedError('running the failover drill', ['the cluster healed']), false),
    ).toEqual({ code: 3 });
  });

  it('anything else is a bug: exit 70 with the stack', () => {
    const r = describeError(new TypeError('x is undefined'), false);
    expect(r.code).toBe(70);
    expect(r.text).toMatch(
      /^Internal error \(a bug in vaultctl\): x is undefined\nTypeError: x is undefined\n/,
    );
    expect(r.payload).toMatchObject({ internal: true, exitCode: 70 });
    expect(describeError('a string', false).code).toBe(70);
  });

  it('an aborted run is cancelled (130) whatever failed on the way out, but a usage error stays 1', () => {
    const r = describeError(new RemoteError('waiting for vault-1', 'aborted'), true);
    expect(r.code).toBe(130);
    expect(r.text).toBe('Error waiting for vault-1: cancelled; what this run created was removed');
    expect(describeError(new Error('socket hang up'), true).code).toBe(130);
    expect(describeError(new CheckFailedError('x', ['y']), true).code).toBe(130);
    expect(describeError(new UsageError('reading --fault', 'unknown'), true).code).toBe(1);
  });

  it('commander: help and version exit 0, a bad flag 1 in the Error/hint shape', () => {
    expect(describeError(new CommanderError(0, 'commander.helpDisplayed', ''), false)).toEqual({ code: 0 });
    expect(describeError(new CommanderError(0, 'commander.version', ''), false)).toEqual({ code: 0 });
    expect(
      describeError(new CommanderError(1, 'commander.unknownOption', "error: unknown option '--x'"), false),
    ).toEqual({
      code: 1,
      text: "Error reading the command line: unknown option '--x'\nhint: see vaultctl --help",
      payload: {
        doing: 'reading the command line',
        message: "unknown option '--x'",
        hint: 'see vaultctl --help',
        exitCode: 1,
      },
    });
  });
});

/** One frame of Docker's multiplexed log stream: [stream, 0, 0, 0, size (BE32)] + payload. */
function frame(stream: 0 | 1 | 2, text: string): Buffer {
  const payload = Buffer.from(text, 'utf8');
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

describe('demuxDockerLog', () => {
  it('joins stdout and stderr frames in order, without headers', () => {
    const buf = Buffer.concat([
      frame(1, '==> OpenBao server started!\n'),
      frame(2, '[ERROR] core: failed to join raft\n'),
      frame(1, 'ünïcödé line\n'),
    ]);
    expect(demuxDockerLog(buf)).toBe(
      '==> OpenBao server started!\n[ERROR] core: failed to join raft\nünïcödé line\n',
    );
  });

  it('handles an empty frame and an empty buffer', () => {
    expect(demuxDockerLog(Buffer.concat([frame(1, ''), frame(2, 'x')]))).toBe('x');
    expect(demuxDockerLog(Buffer.alloc(0))).toBe('');
  });

  it('returns a plain (TTY) log as it is', () => {
    const text = '==> OpenBao server configuration:\n  Storage: raft (HA available)\n';
    expect(demuxDockerLog(Buffer.from(text))).toBe(text);
  });

  it('returns the text when a frame header claims more bytes than there are', () => {
    const bad = Buffer.concat([frame(1, 'hello'), Buffer.from([1, 0, 0, 0, 0, 0, 1, 0]), Buffer.from('x')]);
    expect(demuxDockerLog(bad)).toBe(bad.toString('utf8'));
  });

  // Shorter than one frame header: a loop that needs 8 bytes per header would return "".
  it('returns a plain (TTY) log shorter than a frame header as it is', () => {
    expect(demuxDockerLog(Buffer.from('ok\n'))).toBe('ok\n');
  });
});

describe('inspectElf / inspectBinary', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'vaultctl-elf-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  const hostArch = process.arch === 'x64' ? 'amd64' : process.arch;

  it.skipIf(!existsSync('/bin/ls'))('reports /bin/ls as a dynamic ELF of the host architecture', () => {
    expect(inspectElf('/bin/ls')).toEqual({ elf: true, static: false, arch: hostArch });
  });

  it('reports a shell script as not ELF', () => {
    const path = join(dir, 'bao');
    writeFileSync(path, '#!/bin/sh\nexec python3 -m openbao "$@"\n', { mode: 0o755 });
    expect(inspectElf(path)).toEqual({ elf: false, static: false, arch: 'unknown' });
  });

  it('reports an empty file as not ELF', () => {
    const path = join(dir, 'empty');
    writeFileSync(path, '');
    expect(inspectElf(path).elf).toBe(false);
  });

  it('refuses a tiny script as a server binary', async () => {
    const path = join(dir, 'bao');
    writeFileSync(path, '#!/bin/sh\necho "OpenBao v2.7.2"\n', { mode: 0o755 });
    const err = await inspectBinary(path).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).message).toMatch(/^only \d+ bytes: not a server binary/);
    expect((err as UsageError).render()).toContain(`Error checking the binary ${path}: `);
  });

  it('refuses a large script as not ELF', async () => {
    const path = join(dir, 'bao');
    writeFileSync(path, `#!/bin/sh\n${'# padding\n'.repeat(200)}`, { mode: 0o755 });
    const err = await inspectBinary(path).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).message).toBe('not an ELF executable (a wrapper script?)');
  });

  it.skipIf(!existsSync('/bin/ls'))('refuses a dynamic binary without running it', async () => {
    const err = await inspectBinary('/bin/ls').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).message).toContain('dynamically linked');
  });

  it('refuses a missing path and a directory', async () => {
    await expect(inspectBinary(join(dir, 'absent'))).rejects.toBeInstanceOf(UsageError);
    const err = await inspectBinary(dir).catch((e: unknown) => e);
    expect((err as UsageError).message).toBe('not a regular file');
  });

  const testBao = process.env.VAULTCTL_TEST_BAO;
  it.skipIf(!testBao || !existsSync(testBao))(
    'reports the real bao binary (VAULTCTL_TEST_BAO) as static',
    () => {
      expect(inspectElf(testBao!)).toMatchObject({ elf: true, static: true, arch: hostArch });
    },
  );
});
