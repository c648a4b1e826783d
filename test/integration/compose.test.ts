/**
 * The rendered docker-compose file is real: `docker-compose config` accepts it and
 * `docker-compose up` brings up nodes that `vaultctl init` turns into a healthy cluster.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectVaultNode } from '../../src/vault/api.js';
import { clusterResources, eventually, removeClusterResources, runCli } from '../helpers/cluster.js';
import { HAPROXY_IMAGE, IMAGE } from '../helpers/paths.js';

const name = 'vctl-it-compose';
const work = mkdtempSync(join(tmpdir(), 'vaultctl-compose-'));
const out = join(work, 'rendered');
const composeFile = join(out, 'docker-compose.vault.yml');
const stateDir = join(work, '.vaultctl', name);
// The compose file finds the TLS material `render` created in the state dir through VAULTCTL_TLS_DIR.
const compose = (...args: string[]) =>
  execa('docker-compose', ['-p', name, '-f', composeFile, ...args], {
    reject: false,
    cwd: out,
    timeout: 180_000,
    env: { VAULTCTL_TLS_DIR: join(stateDir, 'tls') },
  });

beforeAll(async () => {
  await removeClusterResources(name);
});
afterAll(async () => {
  await compose('down', '-v', '--timeout', '5');
  await removeClusterResources(name);
  rmSync(work, { recursive: true, force: true });
});

describe('the rendered compose file', () => {
  it('passes `docker-compose config`', async () => {
    const r = await runCli(
      ['--cluster', name, 'render', '--out', out, '--api-port', '18240', '--image', IMAGE],
      { cwd: work },
    );
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain('docker-compose.vault.yml');
    writeFileSync(join(out, 'seal.key'), randomBytes(32), { mode: 0o600 });
    const cfg = await compose('config');
    expect(cfg.exitCode, String(cfg.stderr)).toBe(0);
    expect(String(cfg.stdout)).toContain('127.0.0.1');
    // On a host without a registry the compose file names the locally built endpoint image.
    expect(String(cfg.stdout)).toContain(HAPROXY_IMAGE);
  });

  it('brings up three nodes that `vaultctl init` makes a healthy cluster', async () => {
    const upRes = await compose('up', '-d');
    expect(upRes.exitCode, String(upRes.stderr)).toBe(0);
    // Three nodes and the active-node endpoint.
    expect((await clusterResources(name)).containers).toBe(4);

    const init = await runCli(['--cluster', name, 'init', '--api-port', '18240', '--image', IMAGE], {
      cwd: work,
    });
    expect(init.exitCode, init.stderr).toBe(0);
    const health = await runCli(['--cluster', name, 'health'], { cwd: work });
    expect(health.exitCode, health.stdout).toBe(0);
    expect(health.stdout).toContain('voters 3/3');
    // The endpoint the compose file started routes to the active node.
    expect(health.stdout).toMatch(/endpoint\s+https:\/\/127\.0\.0\.1:18246\s+yes\s+-\s+-\s+active/);

    const token = JSON.parse(readFileSync(join(stateDir, 'init.json'), 'utf8')).rootToken as string;
    const tls = { ca: readFileSync(join(stateDir, 'tls', 'ca.pem'), 'utf8') };
    await connectVaultNode({ address: 'https://127.0.0.1:18240', token, tls }).kvPut(
      'secret',
      'tenants/c1/exchanges/binance/trading',
      { api_key: 'via-compose' },
    );
    await eventually(async () => {
      const got = await connectVaultNode({ address: 'https://127.0.0.1:18244', token, tls }).kvGet(
        'secret',
        'tenants/c1/exchanges/binance/trading',
      );
      expect(got?.data).toEqual({ api_key: 'via-compose' });
    });
    const viaEndpoint = await connectVaultNode({ address: 'https://127.0.0.1:18246', token, tls }).kvGet(
      'secret',
      'tenants/c1/exchanges/binance/trading',
    );
    expect(viaEndpoint?.data).toEqual({ api_key: 'via-compose' });
  });
});
