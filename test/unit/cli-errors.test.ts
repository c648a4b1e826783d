/**
 * One error shape everywhere, as a user sees it from `main`: "Error <doing>: <cause>" then a
 * "hint:" line, commander's own refusals included; every vaultctl error in src carries a hint; the
 * README's Troubleshooting entries (message, exit code) hold for the cases that need no Docker.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { SNAPSHOT_FORMAT } from '../../src/snapshot/meta.js';
import { type Run, runMain } from '../helpers/main-in-process.js';
import { REPO_ROOT } from '../helpers/paths.js';

/** Runs the CLI in this process, as bin/vaultctl does, and captures what it prints. */
async function run(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return runMain(['--state-dir', join(work, 'state'), ...args], { CI: 'true', ...env });
}

/** The "Error ...: ..." line followed by a "hint: ..." line, and nothing else of commander's. */
function expectShape(r: Run, head: string, hint: RegExp | string): void {
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines[0]).toBe(head);
  expect(lines.at(-1)).toMatch(typeof hint === 'string' ? new RegExp(`^hint: ${escapeRegExp(hint)}$`) : hint);
  expect(r.stderr).not.toMatch(/^error: /m);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

let work: string;
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'vaultctl-unit-cli-'));
});
afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

describe("commander's refusals read like every other error", () => {
  it('a bad --format choice: exit 1, Error line and hint', async () => {
    const r = await run(['--format', 'xml', 'health']);
    expect(r.code).toBe(1);
    expectShape(
      r,
      "Error reading the command line: option '--format <format>' argument 'xml' is invalid. Allowed choices are table, json, vault-benchmark.",
      'see vaultctl --help',
    );
  });

  it('--format vault-benchmark on a command other than bench: exit 1 before it does anything', async () => {
    const r = await run(['--format', 'vault-benchmark', 'health']);
    expect(r.code).toBe(1);
    expectShape(
      r,
      'Error reading --format: "vault-benchmark" is a format of `vaultctl bench` only',
      'use --format table or --format json',
    );
  });

  it('an unknown option names the help of the command at fault', async () => {
    const r = await run(['snapshot', 'save', '--frob']);
    expect(r.code).toBe(1);
    expectShape(
      r,
      "Error reading the command line: unknown option '--frob'",
      'see vaultctl snapshot save --help',
    );
  });

  it('an unknown command keeps the suggestion on the Error line', async () => {
    const r = await run(['helth']);
    expect(r.code).toBe(1);
    expectShape(
      r,
      "Error reading the command line: unknown command 'helth' (Did you mean health?)",
      'see vaultctl --help',
    );
  });

  it('a missing argument, in JSON mode: the error document on stdout too', async () => {
    const r = await run(['--format', 'json', 'tenant', 'create']);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toEqual({
      error: {
        doing: 'reading the command line',
        message: "missing required argument 'tenant-uuid'",
        hint: 'see vaultctl tenant create --help',
        exitCode: 1,
      },
    });
  });

  it('--help and --version still exit 0', async () => {
    expect((await run(['--version'])).code).toBe(0);
    const help = await run(['health', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: vaultctl health');
  });
});

describe('the errors the issue found without a hint', () => {
  it('bench --users 0', async () => {
    const r = await run(['bench', '--users', '0']);
    expect(r.code).toBe(1);
    expectShape(
      r,
      'Error reading --users: "0" is not a whole number in [1, 10000]',
      '--users takes a whole number from 1 to 10000, e.g. --users 1',
    );
  });

  it('bench --list-ratio 1.5', async () => {
    const r = await run(['bench', '--list-ratio', '1.5']);
    expect(r.code).toBe(1);
    expectShape(
      r,
      'Error reading --list-ratio: "1.5" is not a number in [0, 1]',
      '--list-ratio takes a number from 0 to 1',
    );
  });

  it('bench --list-ratio "" (an empty value is not 0)', async () => {
    const r = await run(['bench', '--list-ratio', '']);
    expect(r.code).toBe(1);
    expectShape(
      r,
      'Error reading --list-ratio: "" is not a number in [0, 1]',
      '--list-ratio takes a number from 0 to 1',
    );
  });

  it('snapshot save --keep without --dir', async () => {
    const r = await run(['snapshot', 'save', '--keep', '3']);
    expect(r.code).toBe(1);
    expectShape(
      r,
      'Error saving a snapshot: --keep needs --dir',
      /^hint: --keep prunes the snapshots in --dir/,
    );
  });

  describe('snapshot verify and restore of a bad file', () => {
    const archive = () => join(work, 'good.snap');
    const hint = /^hint: use an intact copy of this snapshot, or another one/;
    beforeAll(() => {
      const data = Buffer.from('not really a gzip archive, but as many bytes as the sidecar says');
      writeFileSync(archive(), data);
      const sha = createHash('sha256').update(data).digest('hex');
      writeFileSync(
        `${archive()}.json`,
        JSON.stringify({
          format: SNAPSHOT_FORMAT,
          file: 'good.snap',
          size: data.length,
          sha256: sha,
          plainSize: data.length,
          plainSha256: sha,
          encrypted: null,
        }),
      );
    });

    it('a missing file', async () => {
      const missing = join(work, 'missing.snap');
      const r = await run(['snapshot', 'verify', missing]);
      expect(r.code).toBe(1);
      expectShape(
        r,
        `Error verifying ${missing}: no such file`,
        /^hint: check the path; vaultctl snapshot list/,
      );
    });

    it('a truncated file, also through restore', async () => {
      const cut = join(work, 'cut.snap');
      writeFileSync(cut, readFileSync(archive()).subarray(0, 10));
      writeFileSync(`${cut}.json`, readFileSync(`${archive()}.json`));
      const r = await run(['snapshot', 'verify', cut]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('the file is truncated');
      expectShape(r, r.stderr.split('\n')[0]!, hint);
      const restore = await run(['--cluster', 'vctl-unit-cli', 'snapshot', 'restore', cut, '--yes']);
      expect(restore.code).toBe(1);
      expect(restore.stderr).toContain('the file is truncated');
      expect(restore.stderr.trimEnd().split('\n').at(-1)).toMatch(hint);
    });

    it('a SHA-256 mismatch', async () => {
      const flip = join(work, 'flip.snap');
      const bytes = readFileSync(archive());
      bytes[3] = bytes[3]! ^ 1;
      writeFileSync(flip, bytes);
      writeFileSync(`${flip}.json`, readFileSync(`${archive()}.json`));
      const r = await run(['snapshot', 'verify', flip]);
      expect(r.code).toBe(1);
      expectShape(r, `Error verifying ${flip}: SHA-256 mismatch: the file was altered or corrupted`, hint);
    });

    it('an invalid archive', async () => {
      const r = await run(['snapshot', 'verify', archive()]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('not a valid snapshot archive');
      expectShape(r, r.stderr.split('\n')[0]!, hint);
    });
  });
});

describe('every vaultctl error in src carries a hint', () => {
  it('each `new UsageError(...)` and `new RemoteError(...)` passes doing, cause and hint', () => {
    const missing: string[] = [];
    const walk = (dir: string): string[] =>
      readdirSync(dir).flatMap((f) => {
        const p = join(dir, f);
        return statSync(p).isDirectory() ? walk(p) : p.endsWith('.ts') ? [p] : [];
      });
    for (const file of walk(join(REPO_ROOT, 'src'))) {
      const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
      const visit = (n: ts.Node): void => {
        if (
          ts.isNewExpression(n) &&
          /^(UsageError|RemoteError)$/.test(n.expression.getText(sf)) &&
          (n.arguments?.length ?? 0) < 3
        ) {
          const { line } = sf.getLineAndCharacterOfPosition(n.getStart(sf));
          missing.push(`${relative(REPO_ROOT, file)}:${line + 1}`);
        }
        ts.forEachChild(n, visit);
      };
      visit(sf);
    }
    expect(missing).toEqual([]);
  });
});

describe("the README's Troubleshooting entries", () => {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Troubleshooting'));
  const rows = [...section.matchAll(/^- \*\*`(.+?)`\*\* \(exit (\d+)\)/gm)].map((m) => ({
    message: m[1]!,
    exit: Number(m[2]),
  }));

  /** The entries a unit test can reproduce: the probe must print the message and exit so. */
  const probes: Record<string, () => Promise<Run>> = {
    'Error connecting to Docker: cannot reach the Docker Engine': async () => {
      // The Docker client reads DOCKER_HOST from process.env: point it where no engine listens.
      vi.stubEnv('DOCKER_HOST', `unix://${work}/no-docker.sock`);
      try {
        return await run(['--cluster', 'vctl-unit-docker', 'up', '--api-port', '18290']);
      } finally {
        vi.unstubAllEnvs();
      }
    },
    // bin/vaultctl in a checkout with no dist/: a copy of the entry point beside no build.
    'dist/cli.js is missing: this checkout was never built': async () => {
      const clone = join(work, 'unbuilt');
      mkdirSync(join(clone, 'bin'), { recursive: true });
      writeFileSync(join(clone, 'bin', 'vaultctl'), readFileSync(join(REPO_ROOT, 'bin', 'vaultctl')));
      writeFileSync(join(clone, 'package.json'), '{"type":"module"}');
      const r = spawnSync(process.execPath, [join(clone, 'bin', 'vaultctl'), '--help'], { encoding: 'utf8' });
      return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
    },
    'it is readable by other users': () => {
      const dir = join(work, 'state', 'vctl-unit-perm');
      mkdirSync(dir, { recursive: true });
      chmodSync(dir, 0o755);
      return run(['--cluster', 'vctl-unit-perm', 'health']);
    },
  };
  /** The entries that need Docker or a node; test/e2e/bad-input.test.ts and the integration tests cover them. */
  const needsACluster = [
    'port already in use: 127.0.0.1:8200',
    'Error pulling image openbao/openbao:...',
    'Error pulling image prom/prometheus:...',
    'TLS verification failed (UNABLE_TO_VERIFY_LEAF_SIGNATURE)',
    'the cluster is already initialised but .../init.json does not exist',
    'no node is initialised, but .../init.json holds the keys of an earlier cluster',
    'Error saving a snapshot: no active node',
    'the node serves HTTPS but was asked over plain HTTP',
    // `up` reaches the Docker Engine before it checks the file; test/unit/aws-credentials-file.test.ts
    // reproduces it through the fake runtime.
    'checking seal.awskms.credentialsFile: ... has mode 0644',
  ];

  it('lists entries, each either reproduced here or known to need a cluster', () => {
    expect(rows.length).toBeGreaterThan(0);
    for (const r of rows) expect([...Object.keys(probes), ...needsACluster]).toContain(r.message);
  });

  it.each(Object.keys(probes))('"%s": the message and exit code the README gives', async (message) => {
    const row = rows.find((r) => r.message === message);
    expect(row, `README lists "${message}"`).toBeDefined();
    const r = await probes[message]!();
    expect(r.stderr).toContain(message);
    expect(r.code).toBe(row!.exit);
    expect(r.stderr.trimEnd().split('\n').at(-1)).toMatch(/^hint: /);
  });
});
