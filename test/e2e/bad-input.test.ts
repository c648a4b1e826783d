/**
 * Bad input and faults, through the built CLI as a user runs it: each gives a clear message with
 * a hint and a documented exit code, and leaves nothing behind.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterResources, removeClusterResources, runCli } from '../helpers/cluster.js';
import { CLI, IMAGE } from '../helpers/paths.js';

const work = mkdtempSync(join(tmpdir(), 'vaultctl-e2e-'));
const names = ['vctl-e2e-spec', 'vctl-e2e-port', 'vctl-e2e-image', 'vctl-e2e-sigint', 'vctl-e2e-docker'];
const cli = (args: string[], env: Record<string, string> = {}) => runCli(args, { cwd: work, env });

beforeAll(async () => {
  for (const n of names) await removeClusterResources(n);
});
afterAll(async () => {
  for (const n of names) await removeClusterResources(n);
  rmSync(work, { recursive: true, force: true });
});

async function nothingLeft(name: string): Promise<void> {
  expect(await clusterResources(name)).toEqual({ containers: 0, networks: 0, volumes: 0 });
}

describe('bad input', () => {
  it('a malformed spec: every problem with its dotted path, exit 1, nothing touched', async () => {
    const cfg = join(work, 'bad.yaml');
    writeFileSync(
      cfg,
      [
        'name: vctl-e2e-spec',
        'nodeCount: 4',
        'seal:',
        '  type: shamir',
        '  shares: 3',
        '  threshold: 5',
        'raft:',
        '  performanceMultiplier: 0',
        'colour: blue',
      ].join('\n'),
    );
    const r = await cli(['--config', cfg, 'up']);
    expect(r.exitCode).toBe(1);
    // The schema's problems and the cross-field rules' in one run: a typo hides nothing.
    expect(r.stderr).toMatch(/^Error bringing the cluster up: 4 problems in the cluster spec/m);
    expect(r.stderr).toContain('- raft.performanceMultiplier: ');
    expect(r.stderr).toContain('- colour: unknown field');
    expect(r.stderr).toContain('- nodeCount: a Raft cluster needs an odd number of nodes');
    expect(r.stderr).toContain('- seal.threshold: threshold 5 is larger than shares 3');
    expect(r.stderr).toContain('hint:');
    await nothingLeft('vctl-e2e-spec');
    expect(existsSync(join(work, '.vaultctl', 'vctl-e2e-spec'))).toBe(false);

    const json = await cli(['--format', 'json', '--config', cfg, 'up']);
    expect(json.exitCode).toBe(1);
    const { error } = JSON.parse(json.stdout) as {
      error: { message: string; exitCode: number; problems: { path: string; message: string }[] };
    };
    expect(error).toMatchObject({ message: '4 problems in the cluster spec', exitCode: 1 });
    expect(error.problems).toEqual([
      { path: 'raft.performanceMultiplier', message: expect.any(String) },
      { path: 'colour', message: 'unknown field' },
      { path: 'nodeCount', message: expect.stringContaining('odd number of nodes') },
      { path: 'seal.threshold', message: 'threshold 5 is larger than shares 3' },
    ]);
    await nothingLeft('vctl-e2e-spec');

    writeFileSync(
      cfg,
      [
        'name: vctl-e2e-spec',
        'nodeCount: 4',
        'seal:',
        '  type: shamir',
        '  shares: 3',
        '  threshold: 5',
      ].join('\n'),
    );
    const rules = await cli(['--config', cfg, 'up']);
    expect(rules.exitCode).toBe(1);
    expect(rules.stderr).toContain('2 problems in the cluster spec');
    expect(rules.stderr).toContain('- nodeCount: a Raft cluster needs an odd number of nodes');
    expect(rules.stderr).toContain('- seal.threshold: threshold 5 is larger than shares 3');
    await nothingLeft('vctl-e2e-spec');
  });

  it('YAML that does not parse: exit 1 naming the file', async () => {
    const cfg = join(work, 'broken.yaml');
    writeFileSync(cfg, 'name: [unclosed\n');
    const r = await cli(['--config', cfg, 'render']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('not valid YAML');
    expect(r.stderr).toContain(cfg);
  });

  it('an unknown flavor or seal: exit 1', async () => {
    const flavor = await cli(['up', '--flavor', 'consul']);
    expect(flavor.exitCode).toBe(1);
    expect(flavor.stderr).toContain("argument 'consul' is invalid");
    const seal = await cli(['--cluster', 'vctl-e2e-spec', 'render', '--seal', 'file']);
    expect(seal.exitCode).toBe(1);
    expect(seal.stderr).toContain('seal.type');
    const incompatible = await cli([
      '--cluster',
      'vctl-e2e-spec',
      'render',
      '--flavor',
      'vault',
      '--seal',
      'static',
    ]);
    expect(incompatible.exitCode).toBe(1);
    expect(incompatible.stderr).toContain('HashiCorp Vault has no "static" seal');
  });

  it('unknown commands and bad flags: exit 1; --help: exit 0', async () => {
    expect((await cli(['frobnicate'])).exitCode).toBe(1);
    // Commander's own refusals read like every other error: the Error line, then the hint.
    const xml = await cli(['--format', 'xml', 'health']);
    expect(xml.exitCode).toBe(1);
    expect(xml.stderr).toBe(
      "Error reading the command line: option '--format <format>' argument 'xml' is invalid. Allowed choices are table, json, vault-benchmark.\nhint: see vaultctl --help",
    );
    const unknown = await cli(['health', '--frob']);
    expect(unknown.exitCode).toBe(1);
    expect(unknown.stderr).toBe(
      "Error reading the command line: unknown option '--frob'\nhint: see vaultctl health --help",
    );
    expect((await cli(['health', '--wait', 'soon'])).stderr).toContain('"soon" is not a duration');
    const help = await cli(['up', '--help']);
    expect(help.exitCode).toBe(0);
    expect(help.stdout).toContain('$ vaultctl up --dry-run');
  });

  it('a state dir readable by others: exit 1 with the chmod to run', async () => {
    const dir = join(work, '.vaultctl', 'vctl-e2e-perm');
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    const r = await cli(['--cluster', 'vctl-e2e-perm', 'health']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain(`hint: run: chmod 700 ${dir}`);
  });
});

describe('faults', () => {
  it('Docker not reachable: exit 2 with a hint, nothing created', async () => {
    const r = await cli(['--cluster', 'vctl-e2e-docker', 'up', '--api-port', '18290'], {
      DOCKER_HOST: `unix://${work}/no-docker.sock`,
    });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('Error connecting to Docker: cannot reach the Docker Engine');
    expect(r.stderr).toContain('hint: is the Docker Engine running?');
  });

  it('a port already in use: exit 1 naming it, nothing created', async () => {
    const server: Server = createServer();
    await new Promise<void>((res) => server.listen(18272, '127.0.0.1', () => res()));
    try {
      const r = await cli(['--cluster', 'vctl-e2e-port', 'up', '--api-port', '18268', '--image', IMAGE]);
      expect(r.exitCode).toBe(1);
      expect(r.stderr).toContain('port already in use: 127.0.0.1:18272 (vault-3)');
      expect(r.stderr).toContain('hint:');
      await nothingLeft('vctl-e2e-port');
    } finally {
      server.close();
    }
  });

  it('an image that is not present and cannot be pulled: exit 2 with the build hint, nothing created', async () => {
    // A registry on a closed loopback port: the pull fails at once without leaving this machine.
    const r = await cli([
      '--cluster',
      'vctl-e2e-image',
      'up',
      '--api-port',
      '18276',
      '--image',
      '127.0.0.1:5999/vaultctl/missing:0',
    ]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('Error pulling image 127.0.0.1:5999/vaultctl/missing:0');
    expect(r.stderr).toContain('vaultctl image build --binary');
    await nothingLeft('vctl-e2e-image');
  });

  it('Ctrl-C during up: exit 130 and what the run created is removed', async () => {
    const child = execa(
      'node',
      [CLI, '--cluster', 'vctl-e2e-sigint', 'up', '--api-port', '18280', '--image', IMAGE],
      {
        cwd: work,
        env: { CI: 'true', NO_COLOR: '1' },
        reject: false,
      },
    );
    let seen = '';
    child.stderr?.on('data', (d: Buffer) => {
      const before = seen;
      seen += d.toString();
      if (!before.includes('create volume') && seen.includes('create volume')) child.kill('SIGINT');
    });
    const r = await child;
    expect(r.exitCode, seen).toBe(130);
    expect(String(r.stderr)).toContain('cancelled');
    expect(String(r.stderr)).toContain('rolling back');
    await nothingLeft('vctl-e2e-sigint');
  });

  it('health of addresses where nothing listens: exit 2 (down)', async () => {
    const r = await cli(['health', '--addr', 'http://127.0.0.1:18298,http://127.0.0.1:18299']);
    expect(r.exitCode).toBe(2);
    expect(r.stdout).toContain('down');
    expect(r.stdout).toContain('no node answers');
    const bad = await cli(['health', '--addr', 'not a url']);
    expect(bad.exitCode).toBe(1);
  });
});
