/**
 * A real cluster for one test file: its own name, its own ports, its own temp state dir, and a
 * cleanup that removes every container, network and volume it labelled.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { execa } from 'execa';
import { expect } from 'vitest';
import type { BootstrapResult } from '../../src/bootstrap/bootstrap.js';
import { bootstrapCluster } from '../../src/bootstrap/bootstrap.js';
import { openCluster } from '../../src/cluster/running.js';
import type { UpResult } from '../../src/lifecycle/up.js';
import { upCluster } from '../../src/lifecycle/up.js';
import { DockerRuntime } from '../../src/runtime/docker.js';
import { LABELS } from '../../src/runtime/port.js';
import { containerName, nodeAddress } from '../../src/spec/names.js';
import { resolveSpec } from '../../src/spec/resolve.js';
import type { ClusterSpec, NodeSpec, SpecInput } from '../../src/spec/schema.js';
import { StateDir } from '../../src/state/state-dir.js';
import { clientTlsFromState } from '../../src/tls/tls.js';
import { connectVaultNode } from '../../src/vault/api.js';
import type { VaultNode } from '../../src/vault/port.js';
import { CLI, IMAGE } from './paths.js';
import { RecordingProgress } from './progress.js';

export const docker = new Docker();

export class TestCluster {
  readonly spec: ClusterSpec;
  readonly base: string;
  readonly state: StateDir;
  readonly runtime = new DockerRuntime();
  readonly progress = new RecordingProgress();

  constructor(input: SpecInput) {
    this.spec = resolveSpec({ image: IMAGE, ...input }).spec;
    this.base = mkdtempSync(join(tmpdir(), `vaultctl-${this.spec.name}-`));
    this.state = StateDir.forCluster(join(this.base, '.vaultctl'), this.spec.name);
  }

  get name(): string {
    return this.spec.name;
  }

  node(i: number): NodeSpec {
    return this.spec.nodes[i]!;
  }

  container(i: number): string {
    return containerName(this.spec, this.node(i));
  }

  address(i: number): string {
    return nodeAddress(this.spec, this.node(i));
  }

  get addresses(): string[] {
    return this.spec.nodes.map((n) => nodeAddress(this.spec, n));
  }

  get rootToken(): string {
    const t = this.state.readInit()?.rootToken;
    if (!t) throw new Error('cluster not initialised');
    return t;
  }

  /** CA (and client certificate) of this cluster's TLS, as vaultctl's commands use it. */
  get tls() {
    return clientTlsFromState(this.spec, this.state);
  }

  /** Dependencies for checkHealth/waitForHealth. */
  healthDeps(withToken = true) {
    return { connect: connectVaultNode, tls: this.tls, ...(withToken ? { token: this.rootToken } : {}) };
  }

  api(i: number, token: string | undefined = this.state.readInit()?.rootToken): VaultNode {
    return connectVaultNode({ address: this.address(i), token, tls: this.tls });
  }

  up(opts: { dryRun?: boolean } = {}): Promise<UpResult> {
    return upCluster(
      this.spec,
      this.state,
      { runtime: this.runtime, connect: connectVaultNode, progress: this.progress },
      opts,
    );
  }

  init(): Promise<BootstrapResult> {
    const cluster = openCluster({
      spec: this.spec,
      state: this.state,
      tls: this.tls,
      connect: connectVaultNode,
      runtime: () => this.runtime,
    });
    return bootstrapCluster(cluster, { progress: this.progress });
  }

  /** Runs the built CLI in this cluster's workspace, as a user would. */
  cli(args: string[], env: Record<string, string> = {}) {
    return runCli(['--cluster', this.name, ...args], { cwd: this.base, env });
  }

  /**
   * Every secret this cluster's state dir holds: key shares, root token, static seal key (raw,
   * base64, hex), AppRole secret_ids (application and tenants), plus the values a test wrote.
   */
  knownSecrets(extra: readonly string[] = []): string[] {
    const out = [...extra];
    const init = this.state.readInit();
    if (init) out.push(...init.keys, init.rootToken);
    if (existsSync(this.state.sealKeyFile)) {
      const key = readFileSync(this.state.sealKeyFile);
      out.push(key.toString('base64'), key.toString('hex'));
    }
    const app = this.state.readAppRole();
    if (app) out.push(app.secretId);
    const tenants = join(this.state.root, 'tenants');
    if (existsSync(tenants)) {
      for (const f of readdirSync(tenants))
        out.push(JSON.parse(readFileSync(join(tenants, f), 'utf8')).secretId);
    }
    return out.filter((v) => typeof v === 'string' && v.length >= 8);
  }

  /** Removes every container, network and volume labelled with this cluster, and the temp dir. */
  async destroy(): Promise<void> {
    await removeClusterResources(this.name);
    rmSync(this.base, { recursive: true, force: true });
  }
}

export async function removeClusterResources(name: string): Promise<void> {
  const filters = { label: [`${LABELS.cluster}=${name}`] };
  for (const c of await docker.listContainers({ all: true, filters })) {
    await docker.getContainer(c.Id).remove({ force: true });
  }
  for (const n of await docker.listNetworks({ filters })) await docker.getNetwork(n.Id).remove();
  for (const v of (await docker.listVolumes({ filters })).Volumes ?? [])
    await docker.getVolume(v.Name).remove();
}

export async function clusterResources(
  name: string,
): Promise<{ containers: number; networks: number; volumes: number }> {
  const filters = { label: [`${LABELS.cluster}=${name}`] };
  const [c, n, v] = await Promise.all([
    docker.listContainers({ all: true, filters }),
    docker.listNetworks({ filters }),
    docker.listVolumes({ filters }),
  ]);
  return { containers: c.length, networks: n.length, volumes: (v.Volumes ?? []).length };
}

/**
 * Polls `fn` until it stops throwing (bounded). Standby nodes serve reads themselves (OpenBao >= 2.5)
 * and see a write tens of milliseconds after the leader acknowledged it.
 */
export async function eventually<T>(fn: () => Promise<T>, timeoutMs = 5000): Promise<T> {
  const start = Date.now();
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() - start > timeoutMs) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** Every CLI output of this test file, for the secrets scan. */
export const cliOutputs: string[] = [];

/**
 * The secrets found in any CLI output of this test file (should be none). It first asserts that
 * there is something to scan: with no output captured, or no secret to look for, a scan passes
 * whatever vaultctl prints.
 */
export function leakedSecrets(secrets: readonly string[]): string[] {
  const all = cliOutputs.join('\n');
  expect(all.trim(), 'secrets scan: no vaultctl output was captured in this file').not.toBe('');
  expect(secrets.length, 'secrets scan: no secret to look for').toBeGreaterThan(0);
  return secrets.filter((s) => all.includes(s)).map((s) => `${s.slice(0, 4)}… (${s.length} chars)`);
}

export async function runCli(args: string[], opts: { cwd: string; env?: Record<string, string> }) {
  const res = await execa('node', [CLI, ...args], {
    cwd: opts.cwd,
    env: {
      NO_COLOR: '1',
      CI: 'true',
      VAULT_ADDR: '',
      BAO_ADDR: '',
      VAULT_TOKEN: '',
      BAO_TOKEN: '',
      ...opts.env,
    },
    reject: false,
    stdin: 'ignore',
    timeout: 200_000,
  });
  cliOutputs.push(String(res.stdout), String(res.stderr));
  return { exitCode: res.exitCode ?? -1, stdout: String(res.stdout), stderr: String(res.stderr) };
}

/** Reads a file out of a container (through the Docker archive API; the image has no shell). */
export async function readContainerFile(container: string, path: string): Promise<string> {
  const stream = await docker.getContainer(container).getArchive({ path });
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  const tar = Buffer.concat(chunks);
  const size = Number.parseInt(tar.subarray(124, 136).toString('ascii').replace(/\0.*$/, '').trim(), 8);
  return tar.subarray(512, 512 + size).toString('utf8');
}
