/**
 * `vaultctl render --target kubernetes` as a user runs it, and what of the result can be proven
 * without a Kubernetes control plane (none can run here):
 * - the built CLI writes the manifests and `kubernetes-validate --strict` passes on them; bad input
 *   (the dev KMS) exits 1 with a hint and writes nothing;
 * - the real OpenBao binary runs the rendered node.hcl with the environment the StatefulSet gives a
 *   pod (taken from the rendered manifest): its node id comes from BAO_RAFT_NODE_ID, the readiness
 *   and liveness paths answer as the probes expect (an uninitialised node: not ready, alive), and it
 *   refuses `service_registration "kubernetes"` outside a pod, which is why that stanza is left out
 *   of the run. Ports 19400-19410 on 127.0.0.1 (this file's range); processes end in afterAll.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { runCli } from '../helpers/cluster.js';
import { REPO_ROOT } from '../helpers/paths.js';

const work = mkdtempSync(join(tmpdir(), 'vaultctl-k8s-render-'));
const API = 19400;
const CLUSTER = 19401;
const METRICS = 19410;
const children: ChildProcess[] = [];

afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.pid) process.kill(c.pid, 'SIGKILL');
  rmSync(work, { recursive: true, force: true });
});

function pinned(key: string): string {
  const m = new RegExp(`^${key}=(.+)$`, 'm').exec(
    readFileSync(join(REPO_ROOT, 'config/versions.env'), 'utf8'),
  );
  return m![1]!.trim();
}

describe('render --target kubernetes through the CLI', () => {
  it('writes manifests that kubernetes-validate --strict accepts', async () => {
    writeFileSync(join(work, 'vaultctl.yaml'), 'name: vctl-k8-render\nnodeCount: 5\n');
    const r = await runCli(['render', '--target', 'kubernetes', '--out', 'k8s'], { cwd: work });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain('vctl-k8-render-seal-key (keys seal.key)');
    const files = readdirSync(join(work, 'k8s'))
      .filter((f) => f.endsWith('.yaml'))
      .map((f) => join(work, 'k8s', f));
    expect(files).toHaveLength(10);
    const bin = execFileSync('bash', ['scripts/setup.sh', '--print-k8s-lint'], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
    }).trim();
    const out = execFileSync(
      join(bin, 'kubernetes-validate'),
      ['--strict', '-k', pinned('KUBERNETES_SCHEMA_VERSION'), ...files],
      { encoding: 'utf8' },
    );
    expect(out.match(/ passed for resource /g)).toHaveLength(10);
    const sts = parse(readFileSync(join(work, 'k8s', '07-statefulset.yaml'), 'utf8'));
    expect(sts.spec.replicas).toBe(5);
    expect(
      parse(readFileSync(join(work, 'k8s', '08-poddisruptionbudget.yaml'), 'utf8')).spec.minAvailable,
    ).toBe(3);
  }, 600_000);

  it('refuses the dev KMS with exit 1 and a hint, writing nothing', async () => {
    writeFileSync(
      join(work, 'devkms.yaml'),
      'name: vctl-k8-devkms\nversion: 2.6.2\nseal:\n  devKms:\n    enabled: true\n',
    );
    const r = await runCli(
      ['--config', 'devkms.yaml', 'render', '--target', 'kubernetes', '--out', 'devkms'],
      {
        cwd: work,
      },
    );
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(
      /^Error rendering for Kubernetes: seal.devKms runs moto beside a Docker cluster only/m,
    );
    expect(r.stderr).toMatch(/^hint: /m);
    expect(readdirSync(work)).not.toContain('devkms');
  });
});

describe('the rendered node.hcl in the real OpenBao', () => {
  let bao: string;
  let root: string;
  let env: Record<string, string>;
  let hcl: string;

  beforeAll(async () => {
    bao = execFileSync('bash', ['scripts/setup.sh', '--print-bao'], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
    }).trim();
    writeFileSync(join(work, 'plain.yaml'), 'name: vctl-k8-hcl\ntls:\n  enabled: false\n');
    const r = await runCli(['--config', 'plain.yaml', 'render', '--target', 'kubernetes', '--out', 'plain'], {
      cwd: work,
    });
    expect(r.exitCode, r.stderr).toBe(0);
    root = join(work, 'pod');
    for (const d of ['config', 'data', 'logs', 'seal']) mkdirSync(join(root, d), { recursive: true });
    writeFileSync(join(root, 'seal', 'seal.key'), Buffer.alloc(32, 7), { mode: 0o600 });
    const cm = parse(readFileSync(join(work, 'plain', '04-configmap.yaml'), 'utf8'));
    // The pod's paths under a temp dir, its ports in this file's range.
    hcl = (cm.data['node.hcl'] as string)
      .replaceAll('/openbao/', `${root}/`)
      .replace('"0.0.0.0:8200"', `"127.0.0.1:${API}"`)
      .replace('"0.0.0.0:8201"', `"127.0.0.1:${CLUSTER}"`)
      .replace('"0.0.0.0:8210"', `"127.0.0.1:${METRICS}"`)
      // The other pods' DNS names would go to the host's resolver: closed ports of this file's range instead.
      .replace(
        /http:\/\/vctl-k8-hcl-(\d)\.vctl-k8-hcl-internal\.vctl-k8-hcl\.svc:8200/g,
        (_, n: string) => `http://127.0.0.1:${API + 2 + Number(n)}`,
      );
    expect(hcl).not.toContain('.svc');
    // The pod's environment as the StatefulSet sets it, for pod 0; its DNS name becomes 127.0.0.1.
    const sts = parse(readFileSync(join(work, 'plain', '07-statefulset.yaml'), 'utf8'));
    env = {};
    for (const e of sts.spec.template.spec.containers[0].env as {
      name: string;
      value?: string;
      valueFrom?: unknown;
    }[]) {
      if (e.name === 'BAO_K8S_POD_NAME') env[e.name] = 'vctl-k8-hcl-0';
      else if (e.name === 'BAO_K8S_NAMESPACE') env[e.name] = 'vctl-k8-hcl';
      else if (e.value !== undefined)
        env[e.name] = e.value
          .replaceAll('$(BAO_K8S_POD_NAME).vctl-k8-hcl-internal.vctl-k8-hcl.svc', '127.0.0.1')
          .replaceAll('$(BAO_K8S_POD_NAME)', 'vctl-k8-hcl-0')
          .replace(':8200', `:${API}`)
          .replace(':8201', `:${CLUSTER}`);
    }
    expect(env.BAO_RAFT_NODE_ID).toBe('vctl-k8-hcl-0');
  }, 600_000);

  function start(config: string): { child: ChildProcess; log: () => string } {
    const file = join(root, 'config', `${Date.now()}.hcl`);
    writeFileSync(file, config);
    let log = '';
    const child = spawn(bao, ['server', `-config=${file}`], {
      env: { PATH: process.env.PATH ?? '', HOME: root, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    child.stdout!.on('data', (d) => (log += d));
    child.stderr!.on('data', (d) => (log += d));
    return { child, log: () => log };
  }

  async function status(path: string): Promise<number> {
    for (let i = 0; i < 100; i++) {
      try {
        return (await fetch(`http://127.0.0.1:${API}${path}`)).status;
      } catch {
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    throw new Error(`127.0.0.1:${API} never answered`);
  }

  it('refuses service_registration "kubernetes" outside a pod (why the next test leaves it out)', async () => {
    const { child, log } = start(hcl);
    const code = await new Promise<number | null>((r) => child.on('exit', r));
    expect(code).not.toBe(0);
    expect(log()).toMatch(/service_registration of type kubernetes.*KUBERNETES_SERVICE_HOST/);
  }, 60_000);

  it('starts from the rest: probes answer as rendered, the node id comes from the pod name', async () => {
    expect(hcl).toContain('service_registration "kubernetes" {}');
    const { child, log } = start(hcl.replace('service_registration "kubernetes" {}', ''));
    // Uninitialised: not ready (501), alive (204).
    expect(await status('/v1/sys/health?standbyok=true')).toBe(501);
    expect(await status('/v1/sys/health?standbyok=true&sealedcode=204&uninitcode=204')).toBe(204);
    const init = await fetch(`http://127.0.0.1:${API}/v1/sys/init`, {
      method: 'PUT',
      body: JSON.stringify({ recovery_shares: 1, recovery_threshold: 1 }),
    });
    expect(init.status).toBe(200);
    const token = ((await init.json()) as { root_token: string }).root_token;
    // Auto-unsealed with the static key: ready.
    let ready = 0;
    for (let i = 0; i < 50 && ready !== 200; i++) {
      ready = await status('/v1/sys/health?standbyok=true');
      if (ready !== 200) await new Promise((r) => setTimeout(r, 200));
    }
    expect(ready).toBe(200);
    // Right after unsealing, the active node may still be setting up: ask until it answers.
    type Config = {
      data?: { config: { servers: { node_id: string; address: string }[] } };
      errors?: string[];
    };
    let body: Config = {};
    for (let i = 0; i < 50 && !body.data; i++) {
      const res = await fetch(`http://127.0.0.1:${API}/v1/sys/storage/raft/configuration`, {
        headers: { 'X-Vault-Token': token },
      });
      body = (await res.json()) as Config;
      if (!body.data) await new Promise((r) => setTimeout(r, 200));
    }
    expect(body.data, JSON.stringify(body.errors)).toBeDefined();
    const servers = body.data!.config.servers;
    expect(servers.map((s) => [s.node_id, s.address])).toEqual([['vctl-k8-hcl-0', `127.0.0.1:${CLUSTER}`]]);
    // The audit device of the HCL writes into the audit claim's mount; the metrics listener answers.
    expect(readdirSync(join(root, 'logs'))).toContain('audit.log');
    expect((await fetch(`http://127.0.0.1:${METRICS}/v1/sys/metrics?format=prometheus`)).status).toBe(200);
    child.kill('SIGTERM');
    await new Promise((r) => child.on('exit', r));
    expect(log()).not.toContain(token);
  }, 120_000);
});
