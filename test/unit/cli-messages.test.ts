/**
 * Messages issue 26 found misleading or cut short (items 7, 8 and 10), each as the user meets it:
 * the drill's refusal of a cluster that is not healthy (exit 1, as upgrade refuses), an unbuilt
 * checkout, SIGTERM, a YAML error, `health -q` of a cluster given by address, a closed stdout and
 * a failed image pull.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import type Docker from 'dockerode';
import { afterAll, describe, expect, it } from 'vitest';
import { cancellingMessage, guardClosedOutput } from '../../src/cli.js';
import { runDrill } from '../../src/drill/run.js';
import { RemoteError, UsageError } from '../../src/errors.js';
import { DockerRuntime } from '../../src/runtime/docker.js';
import { resolveSpec } from '../../src/spec/resolve.js';
import { StateDir } from '../../src/state/state-dir.js';
import { fakeSnapshotCluster } from '../helpers/fake-snapshot-cluster.js';
import { type Run, runMain } from '../helpers/main-in-process.js';
import { REPO_ROOT } from '../helpers/paths.js';
import { silentProgress } from '../helpers/progress.js';

const work = mkdtempSync(join(tmpdir(), 'vaultctl-unit-messages-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

async function run(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return runMain(['--state-dir', join(work, 'state'), ...args], env);
}

describe('failover-drill on a cluster that is not healthy (item 7)', () => {
  it('is refused as an action (exit 1), saying what is wrong and that nothing was done', async () => {
    const spec = resolveSpec({ name: 'unit', tls: { enabled: false } }).spec;
    const state = StateDir.forCluster(join(work, 'drill-state'), 'unit');
    const { cluster, calls } = fakeSnapshotCluster({
      spec,
      state,
      token: 't',
      rows: { 'vault-3': { up: false } },
    });
    let err: unknown;
    try {
      await runDrill(
        {
          fault: 'kill',
          target: 'leader',
          rate: 20,
          readRate: 5,
          holdMs: 10_000,
          rounds: 1,
          warmupMs: 2000,
          settleMs: 1000,
          healTimeoutMs: 90_000,
          attemptTimeoutMs: 1000,
          writeDeadlineMs: 10_000,
        },
        { cluster, progress: silentProgress },
      );
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    const e = err as UsageError;
    expect(e.exitCode).toBe(1);
    expect(e.message).toMatch(/^the cluster is (degraded|down), not healthy: .*vault-3.*; nothing was done$/);
    // Nothing was written, stopped or killed (health's audit probe is an unauthenticated GET).
    expect(calls.filter((c) => !/ (raft|autopilot|sys\/|call GET \/vaultctl-audit-probe)/.test(c))).toEqual(
      [],
    );
  });
});

describe('a checkout that was never built (item 8)', () => {
  it('bin/vaultctl says what to run instead of printing a module-resolution stack', () => {
    const clone = join(work, 'clone');
    mkdirSync(join(clone, 'bin'), { recursive: true });
    copyFileSync(join(REPO_ROOT, 'bin', 'vaultctl'), join(clone, 'bin', 'vaultctl'));
    writeFileSync(join(clone, 'package.json'), '{"type":"module"}');
    const r = spawnSync(process.execPath, [join(clone, 'bin', 'vaultctl'), '--help'], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).not.toContain('ERR_MODULE_NOT_FOUND');
    expect(r.stderr).not.toMatch(/^\s+at /m);
    expect(r.stderr).toContain('dist/cli.js is missing: this checkout was never built');
    expect(r.stderr).toContain('hint: run `npm ci && npm run build` (or `make setup`)');
  });
});

describe('SIGTERM (item 10)', () => {
  it('says what a second SIGTERM does, not "press Ctrl-C"', () => {
    expect(cancellingMessage('SIGTERM')).toBe('cancelling on SIGTERM (send it again to quit at once)...');
    expect(cancellingMessage('SIGTERM')).not.toContain('Ctrl-C');
    expect(cancellingMessage('SIGINT')).toBe('cancelling (press Ctrl-C again to quit at once)...');
  });

  it('a run cancelled by SIGTERM: exit 130 and the SIGTERM wording', async () => {
    // `health --wait` on an address that never answers: a long wait that the signal cancels.
    const running = run(['health', '--addr', 'http://127.0.0.1:9', '--wait', '60s']);
    await new Promise((r) => setTimeout(r, 500));
    process.emit('SIGTERM', 'SIGTERM');
    const r = await running;
    expect(r.stderr).toContain('cancelling on SIGTERM (send it again to quit at once)...');
    expect(r.stderr).not.toContain('Ctrl-C');
    expect(r.code).toBe(130);
  });
});

describe('a YAML error (item 10)', () => {
  it('is not cut after "column N:": it shows the offending line', async () => {
    const cfg = join(work, 'tab.yaml');
    writeFileSync(cfg, 'name: x\n\tnodeCount: 3\n');
    const r = await run(['--config', cfg, 'render']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      'not valid YAML: Tabs are not allowed as indentation at line 2, column 1: "\\tnodeCount: 3"',
    );
    expect(r.stderr).not.toMatch(/column 1:\n/);
  });
});

describe('health -q of a cluster given by address (item 10)', () => {
  it('names the cluster by its addresses instead of printing "Cluster:" alone', async () => {
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ initialized: true, sealed: false, standby: false, version: '2.7.2' }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const address = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const r = await run(['health', '-q', '--addr', address]);
      expect(r.stdout).toContain(`Cluster at ${address}: `);
      expect(r.stdout).not.toMatch(/^Cluster: /m);
    } finally {
      server.close();
    }
  });
});

describe('a closed stdout (item 10)', () => {
  it('an EPIPE on stdout or stderr is dropped, not thrown in the middle of an operation', () => {
    const stream = new PassThrough();
    guardClosedOutput([stream]);
    guardClosedOutput([stream]);
    expect(stream.listenerCount('error')).toBe(1);
    const epipe = Object.assign(new Error('write EPIPE'), { code: 'EPIPE' });
    expect(() => stream.emit('error', epipe)).not.toThrow();
    const other = Object.assign(new Error('write EIO'), { code: 'EIO' });
    expect(() => stream.emit('error', other)).toThrow('write EIO');
  });
});

describe('a failed image pull (item 10)', () => {
  it("gives the Engine's message, not only its HTTP reason", async () => {
    // The error dockerode raises when the Engine cannot reach the registry (recorded from a real pull).
    const engineError = Object.assign(
      new Error(
        '(HTTP code 500) server error - Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io: no such host ',
      ),
      { statusCode: 500, reason: 'server error', json: null },
    );
    const docker = { pull: async () => Promise.reject(engineError) } as unknown as Docker;
    const err = await new DockerRuntime(docker).pullImage('vctl-fl/none:1').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RemoteError);
    expect((err as RemoteError).render()).toBe(
      'Error pulling image vctl-fl/none:1: Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io: no such host',
    );
  });
});
