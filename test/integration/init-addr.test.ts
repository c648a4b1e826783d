/**
 * `vaultctl init --addr` on a cluster vaultctl did not start: the rendered compose file started
 * with plain `docker-compose up`, then init, health, snapshot save, a step-down drill and bench.
 * Bad input first, each refused with exit 1 and nothing changed.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { get as httpsGet } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, removeClusterResources, runCli } from '../helpers/cluster.js';
import { IMAGE } from '../helpers/paths.js';

const name = 'vctl-ai-compose';
const other = 'vctl-ai-other';
const work = mkdtempSync(join(tmpdir(), 'vaultctl-init-addr-'));
const out = join(work, 'rendered');
const composeFile = join(out, 'docker-compose.vault.yml');
const stateDir = join(work, '.vaultctl', name);
const nodes = ['https://127.0.0.1:19800', 'https://127.0.0.1:19802', 'https://127.0.0.1:19804'];
const endpoint = 'https://127.0.0.1:19806';
const compose = (...args: string[]) =>
  execa('docker-compose', ['-p', name, '-f', composeFile, ...args], {
    reject: false,
    cwd: out,
    timeout: 180_000,
    env: { VAULTCTL_TLS_DIR: join(stateDir, 'tls') },
  });
const cli = (args: string[], env?: Record<string, string>) =>
  runCli(['--cluster', name, ...args], { cwd: work, ...(env ? { env } : {}) });
// A plain HTTP server that answers sys/seal-status like an uninitialised node.
let plain: Server;

beforeAll(async () => {
  await removeClusterResources(name);
  plain = createServer((_req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ initialized: false, sealed: true, t: 0, n: 0, progress: 0, type: 'shamir' }));
  });
  await new Promise<void>((r) => plain.listen(19848, '127.0.0.1', r));
  const r = await cli(['render', '--out', out, '--api-port', '19800', '--image', IMAGE]);
  expect(r.exitCode, r.stderr).toBe(0);
  writeFileSync(join(out, 'seal.key'), randomBytes(32), { mode: 0o600 });
  const up = await compose('up', '-d');
  expect(up.exitCode, String(up.stderr)).toBe(0);
}, 240_000);
afterAll(async () => {
  await new Promise((r) => plain?.close(r));
  await compose('down', '-v', '--timeout', '5');
  await removeClusterResources(name);
  rmSync(work, { recursive: true, force: true });
});

const initAddr = (addrs: readonly string[], cluster = name, env?: Record<string, string>) =>
  runCli(
    [
      '--cluster',
      cluster,
      'init',
      '--api-port',
      '19800',
      '--image',
      IMAGE,
      '--timeout',
      '2m',
      '--addr',
      addrs.join(','),
    ],
    { cwd: work, ...(env ? { env } : {}) },
  );

/** Whether the endpoint answers HTTP at all (its certificate is not what this checks). */
function endpointAnswers(): Promise<boolean> {
  return new Promise((resolve) => {
    const req = httpsGet(
      `${endpoint}/v1/sys/seal-status`,
      { rejectUnauthorized: false, timeout: 2000 },
      (res) => {
        res.resume();
        resolve(true);
      },
    );
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
  });
}

describe('init --addr on a compose cluster', () => {
  it('refuses an address where nothing listens', async () => {
    const r = await initAddr([nodes[0]!, nodes[1]!, 'https://127.0.0.1:19849']);
    expect(r.exitCode, r.stderr).toBe(1);
    expect(r.stderr).toContain('Error checking https://127.0.0.1:19849: no node answers there');
    expect(existsSync(join(stateDir, 'init.json'))).toBe(false);
  });

  it('refuses the active-node endpoint (HAProxy) as a node', async () => {
    // The precondition: HAProxy has marked every (uninitialised) node down and closes connections.
    // Right after `compose up` it may still forward to a node it has not checked yet, and init by
    // address would then take the endpoint for a node (a limit of the seal-status probe).
    await eventually(async () => expect(await endpointAnswers()).toBe(false), 30_000);
    const r = await initAddr([nodes[0]!, nodes[1]!, endpoint]);
    expect(r.exitCode, r.stderr).toBe(1);
    expect(r.stderr).toContain(`Error checking ${endpoint}`);
    expect(existsSync(join(stateDir, 'init.json'))).toBe(false);
  });

  it('refuses http:// for a TLS node, and https:// for a plain HTTP one', async () => {
    const r = await initAddr([nodes[0]!.replace('https:', 'http:'), nodes[1]!, nodes[2]!]);
    expect(r.exitCode, r.stderr).toBe(1);
    expect(r.stderr).toContain('the node serves HTTPS but the address is http://');
    const p = await initAddr([nodes[0]!, nodes[1]!, 'https://127.0.0.1:19848']);
    expect(p.exitCode, p.stderr).toBe(1);
    expect(p.stderr).toContain('the node answers plain HTTP but the address is https://');
    expect(existsSync(join(stateDir, 'init.json'))).toBe(false);
  });

  it('initialises, joins and configures the cluster by address; keys 0600 in a 0700 dir', async () => {
    const r = await initAddr(nodes);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain('is initialised and healthy');
    expect(r.stderr).toContain('audit device');
    expect(statSync(join(stateDir, 'init.json')).mode & 0o777).toBe(0o600);
    expect(statSync(stateDir).mode & 0o777).toBe(0o700);
    // Run again: it resumes (the state dir holds the keys).
    const again = await initAddr(nodes);
    expect(again.exitCode, again.stderr).toBe(0);
  }, 300_000);

  it('refuses a node initialised by someone else (no keys in the state dir)', async () => {
    // The CA is given (the other state dir has none): the refusal is about the keys, not TLS.
    const r = await initAddr(nodes, other, { BAO_CACERT: join(stateDir, 'tls', 'ca.pem') });
    expect(r.exitCode, r.stderr).toBe(1);
    expect(r.stderr).toContain('someone else initialised this cluster');
    expect(existsSync(join(work, '.vaultctl', other, 'init.json'))).toBe(false);
  });

  it('health, snapshot save and bench by address; a container fault refused by address', async () => {
    // health --addr sends only the environment's token to addresses typed; the others take the
    // state dir of --cluster, which init --addr filled.
    const token = JSON.parse(readFileSync(join(stateDir, 'init.json'), 'utf8')).rootToken as string;
    const h = await cli(['health', '--addr', nodes.join(',')], { BAO_TOKEN: token });
    expect(h.exitCode, h.stdout + h.stderr).toBe(0);
    expect(h.stdout).toContain('voters 3/3');
    const snap = join(work, 'c.snap');
    const s = await cli(['snapshot', 'save', snap, '--addr', nodes.join(',')]);
    expect(s.exitCode, s.stderr).toBe(0);
    expect(statSync(snap).size).toBeGreaterThan(0);
    const b = await cli([
      'bench',
      '--duration',
      '3s',
      '--warmup',
      '0s',
      '--tenants',
      '1',
      '--users',
      '2',
      '--addr',
      nodes.join(','),
    ]);
    expect(b.exitCode, b.stdout + b.stderr).toBe(0);
    // A fault that needs the node's container is refused by address, before anything is done.
    const k = await cli([
      'failover-drill',
      '--fault',
      'kill',
      '--duration',
      '3s',
      '--yes',
      '--addr',
      ...nodes,
    ]);
    expect(k.exitCode, k.stderr).toBe(1);
    expect(k.stderr).toContain('nodes given by --addr have none');
  }, 400_000);

  it('a step-down drill by address', async () => {
    const d = await cli([
      'failover-drill',
      '--fault',
      'step-down',
      '--duration',
      '3s',
      '--yes',
      '--addr',
      ...nodes,
    ]);
    expect(d.exitCode, d.stdout + d.stderr).toBe(0);
  }, 300_000);
});
