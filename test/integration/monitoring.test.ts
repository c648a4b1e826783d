/**
 * Observability for real: a 3-node OpenBao cluster brought up with `vaultctl up --monitoring`
 * (Prometheus from Debian's binary in a local image, on the cluster network), and Debian's
 * prometheus on the host with the files of `render --target prometheus`. Both scrape every node
 * with the metrics token `init` stores; after a node is stopped the node-down alert fires (the test
 * profile shortens every `for` to 5s). Tests run in order and share one cluster.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { waitForHealth } from '../../src/health/health.js';
import { VaultRequestError } from '../../src/vault/port.js';
import {
  clusterResources,
  docker,
  eventually,
  leakedSecrets,
  removeClusterResources,
  TestCluster,
} from '../helpers/cluster.js';
import { PROMETHEUS_IMAGE } from '../helpers/paths.js';

const PROM_PORT = 18510;
const HOST_PROM_PORT = 18511;
const cluster = new TestCluster({
  name: 'vtmon-it',
  apiPortBase: 18500,
  monitoring: {
    image: PROMETHEUS_IMAGE,
    port: PROM_PORT,
    scrapeInterval: '2s',
    evaluationInterval: '2s',
    alertFor: '5s',
  },
});
/** The development profile: metrics without a token (so a sealed node is still seen), and mutual TLS. */
const DEV_PROM_PORT = 18530;
const dev = new TestCluster({
  name: 'vtmon-dev',
  apiPortBase: 18520,
  tls: { requireClientCert: true },
  telemetry: { unauthenticatedMetricsAccess: true },
  monitoring: {
    enabled: true,
    image: PROMETHEUS_IMAGE,
    port: DEV_PROM_PORT,
    scrapeInterval: '2s',
    evaluationInterval: '2s',
    alertFor: '5s',
  },
});
let hostProm: ChildProcess | undefined;
const hostPromLog: string[] = [];

interface Target {
  labels: Record<string, string>;
  health: string;
  lastError: string;
}
interface Alert {
  labels: Record<string, string>;
  state: string;
}

async function promApi<T>(port: number, path: string): Promise<T> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(5000) });
  const body = (await res.json()) as { status: string; data: T };
  if (body.status !== 'success') throw new Error(`${path}: ${JSON.stringify(body)}`);
  return body.data;
}

async function query(
  port: number,
  q: string,
): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
  const data = await promApi<{ result: { metric: Record<string, string>; value: [number, string] }[] }>(
    port,
    `/api/v1/query?query=${encodeURIComponent(q)}`,
  );
  return data.result;
}

async function allTargetsUp(port: number): Promise<Target[]> {
  return eventually(async () => {
    // The nodes' job (the cluster's Prometheus also scrapes the endpoint's HAProxy, job vault-endpoint).
    const all = await promApi<{ activeTargets: Target[] }>(port, '/api/v1/targets');
    const t = { activeTargets: all.activeTargets.filter((x) => x.labels.job === 'vault') };
    const summary = t.activeTargets.map((x) => `${x.labels.node}: ${x.health} ${x.lastError}`).join('; ');
    if (t.activeTargets.length !== 3 || t.activeTargets.some((x) => x.health !== 'up'))
      throw new Error(`targets not all up: ${summary}`);
    return t.activeTargets;
  }, 60_000);
}

beforeAll(async () => {
  await removeClusterResources(cluster.name);
  await removeClusterResources(dev.name);
  writeFileSync(join(dev.base, 'vaultctl.yaml'), stringify(dev.spec.input));
  // The CLI reads the test profile from vaultctl.yaml in the cluster's workspace; --monitoring turns it on.
  writeFileSync(join(cluster.base, 'vaultctl.yaml'), stringify(cluster.spec.input));
});
afterAll(async () => {
  if (hostProm && hostProm.exitCode === null) {
    hostProm.kill('SIGTERM');
    await new Promise((r) => hostProm?.once('exit', r));
  }
  await cluster.destroy();
  await dev.destroy();
});

describe('vaultctl up --monitoring on a real cluster', () => {
  it('up --monitoring starts the nodes and Prometheus, prints its URL; init stores the metrics token 0600', async () => {
    const up = await cluster.cli(['up', '--monitoring']);
    expect(up.exitCode, up.stderr).toBe(0);
    expect(up.stdout).toContain(`prometheus  http://127.0.0.1:${PROM_PORT}`);
    const info = await docker.getContainer(`${cluster.name}-prometheus`).inspect();
    expect(info.Config.Labels['io.vaultctl.cluster']).toBe(cluster.name);
    expect(info.HostConfig.PortBindings?.['9090/tcp']).toEqual([
      { HostIp: '127.0.0.1', HostPort: String(PROM_PORT) },
    ]);
    expect(info.HostConfig.Mounts?.every((m) => m.ReadOnly)).toBe(true);

    const init = await cluster.cli(['init']);
    expect(init.exitCode, init.stderr).toBe(0);
    expect(init.stderr).toMatch(/metrics token: created/);
    expect(statSync(cluster.state.metricsTokenFile).mode & 0o777).toBe(0o600);

    // A second run of either changes nothing (the token is renewed, not replaced).
    const before = cluster.state.readMetricsToken();
    const again = await cluster.cli(['up']);
    expect(again.exitCode, again.stderr).toBe(0);
    expect(again.stdout).toContain('up to date');
    const init2 = await cluster.cli(['init']);
    expect(init2.exitCode, init2.stderr).toBe(0);
    expect(init2.stderr).toMatch(/metrics token \(already done\): renewed/);
    expect(cluster.state.readMetricsToken()).toBe(before);
  });

  it('the metrics token reads sys/metrics on every node, standbys included, and nothing else', async () => {
    const token = cluster.state.readMetricsToken()!;
    for (let i = 0; i < 3; i++) {
      const res = await cluster.api(i, token).call<string>('GET', '/sys/metrics', 'reading metrics');
      expect(res).toBeTruthy();
    }
    const denied = await cluster
      .api(0, token)
      .kvGet('secret', 'tenants/x/exchanges/binance/readonly')
      .catch((e: unknown) => e);
    expect(denied).toBeInstanceOf(VaultRequestError);
    expect((denied as VaultRequestError).status).toBe(403);
    const lookup = await cluster
      .api(0)
      .write<{ data: { policies: string[]; orphan: boolean } }>('auth/token/lookup', { token });
    expect(lookup.data.policies).toEqual(['metrics']);
    expect(lookup.data.orphan).toBe(true);
  });

  it('Prometheus in the cluster network scrapes every node: 3 unsealed, exactly one active', async () => {
    const targets = await allTargetsUp(PROM_PORT);
    expect(targets.map((t) => t.labels.node).sort()).toEqual(['vault-1', 'vault-2', 'vault-3']);
    await eventually(async () => {
      expect((await query(PROM_PORT, 'sum(vault_core_unsealed{job="vault"})'))[0]?.value[1]).toBe('3');
      expect((await query(PROM_PORT, 'sum(vault_core_active{job="vault"})'))[0]?.value[1]).toBe('1');
      expect((await query(PROM_PORT, 'count(vault_raft_storage_stats_term{job="vault"})'))[0]?.value[1]).toBe(
        '3',
      );
    }, 30_000);
    const rules = await promApi<{
      groups: { rules: { name: string; health: string; lastError?: string }[] }[];
    }>(PROM_PORT, '/api/v1/rules');
    const loaded = rules.groups.flatMap((g) => g.rules);
    // Eight node rules and VaultEndpointNoBackend.
    expect(loaded).toHaveLength(9);
    // Every rule evaluates against the real series (a rule in error never fires).
    await eventually(async () => {
      const now = await promApi<{
        groups: { rules: { name: string; health: string; lastError?: string }[] }[];
      }>(PROM_PORT, '/api/v1/rules');
      const bad = now.groups.flatMap((g) => g.rules).filter((r) => r.health !== 'ok');
      expect(bad.map((r) => `${r.name}: ${r.health} ${r.lastError ?? ''}`)).toEqual([]);
    }, 20_000);
    // A healthy cluster raises nothing, not even a pending alert, once the nodes' metrics loops have
    // published the post-bootstrap values (autopilot gauges lag the API by up to a loop period).
    await eventually(async () => {
      const { alerts } = await promApi<{ alerts: Alert[] }>(PROM_PORT, '/api/v1/alerts');
      expect(alerts.map((a) => `${a.labels.alertname} ${a.state} ${a.labels.node ?? ''}`)).toEqual([]);
    }, 30_000);
  });

  it('health --metrics shows the key metrics of every node', async () => {
    const res = await cluster.cli(['health', '--metrics', '--format', 'json']);
    expect(res.exitCode, res.stderr).toBe(0);
    const h = JSON.parse(res.stdout) as { metrics: Record<string, { unsealed: boolean; active: boolean }> };
    expect(Object.keys(h.metrics).sort()).toEqual(['vault-1', 'vault-2', 'vault-3']);
    expect(Object.values(h.metrics).every((m) => m.unsealed)).toBe(true);
    expect(Object.values(h.metrics).filter((m) => m.active)).toHaveLength(1);
    const table = await cluster.cli(['health', '--metrics']);
    expect(table.exitCode).toBe(0);
    expect(table.stdout).toMatch(/NODE\s+UNSEALED\s+ACTIVE\s+TERM\s+APPLIED\s+COMMIT\s+TOLERANCE/);
  });

  it('a revoked metrics token is replaced by the next init, and Prometheus picks the new one up', async () => {
    const old = cluster.state.readMetricsToken()!;
    await cluster.api(0).write('auth/token/revoke', { token: old });
    const init = await cluster.cli(['init']);
    expect(init.exitCode, init.stderr).toBe(0);
    expect(init.stderr).toMatch(/metrics token: replaced the stored token/);
    const fresh = cluster.state.readMetricsToken()!;
    expect(fresh).not.toBe(old);
    expect(statSync(cluster.state.metricsTokenFile).mode & 0o777).toBe(0o600);
    // The token file is re-read on every scrape through the mounted directory: no restart needed.
    await allTargetsUp(PROM_PORT);
  });

  it('a changed rule setting recreates only the Prometheus container, on the port it already holds', async () => {
    const monitoring = { ...(cluster.spec.input.monitoring as Record<string, unknown>), highLatencyMs: 250 };
    writeFileSync(join(cluster.base, 'vaultctl.yaml'), stringify({ ...cluster.spec.input, monitoring }));
    const up = await cluster.cli(['up', '--dry-run', '--format', 'json']);
    expect(up.exitCode, up.stderr).toBe(0);
    const plan = JSON.parse(up.stdout) as { steps: { action: string; target: string }[] };
    expect(new Set(plan.steps.map((s) => s.target))).toEqual(new Set([`${cluster.name}-prometheus`]));
    const applied = await cluster.cli(['up']);
    expect(applied.exitCode, applied.stderr).toBe(0);
    expect(readFileSync(join(cluster.state.monitoringDir, 'vault-alerts.rules.yml'), 'utf8')).toContain(
      '> 250',
    );
    await allTargetsUp(PROM_PORT);
  });

  it("render --target prometheus: promtool accepts the files and Debian's prometheus on the host scrapes every node", async () => {
    const out = join(cluster.base, 'prom');
    const r = await cluster.cli(['render', '--target', 'prometheus', '--out', out]);
    expect(r.exitCode, r.stderr).toBe(0);
    const check = spawnSync('promtool', ['check', 'config', join(out, 'prometheus.yml')], {
      encoding: 'utf8',
    });
    expect(check.status, `${check.stdout}${check.stderr}`).toBe(0);
    // vault-2's metrics listener, one port above its API port 18502.
    expect(readFileSync(join(out, 'prometheus.yml'), 'utf8')).toContain('127.0.0.1:18503');

    const data = join(cluster.base, 'prom-data');
    mkdirSync(data);
    hostProm = spawn(
      'prometheus',
      [
        `--config.file=${join(out, 'prometheus.yml')}`,
        `--storage.tsdb.path=${data}`,
        `--web.listen-address=127.0.0.1:${HOST_PROM_PORT}`,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    hostProm.stderr?.on('data', (d: Buffer) => hostPromLog.push(d.toString()));
    await allTargetsUp(HOST_PROM_PORT);
    await eventually(async () => {
      expect((await query(HOST_PROM_PORT, 'sum(vault_core_unsealed)'))[0]?.value[1]).toBe('3');
      expect((await query(HOST_PROM_PORT, 'sum(vault_core_active)'))[0]?.value[1]).toBe('1');
    }, 30_000);
  });

  it('a stopped node: VaultNodeDown fires for it in both Prometheus, the cluster stays served', async () => {
    // A standby: stopping the leader would (rightly) make VaultNoLeader pending during the election.
    const healths = await Promise.all([0, 1, 2].map((i) => cluster.api(i).health()));
    const victim = [2, 1, 0].find((i) => healths[i]!.standby)!;
    const victimName = cluster.node(victim).name;
    const stopped = cluster.container(victim);
    await docker.getContainer(stopped).stop({ t: 2 });
    const fired = await eventually(async () => {
      const { alerts } = await promApi<{ alerts: Alert[] }>(PROM_PORT, '/api/v1/alerts');
      const down = alerts.find((a) => a.labels.alertname === 'VaultNodeDown');
      if (down?.state !== 'firing') throw new Error(`VaultNodeDown is ${down?.state ?? 'absent'}`);
      return alerts;
    }, 60_000);
    const down = fired.filter((a) => a.labels.alertname === 'VaultNodeDown');
    expect(down.map((a) => a.labels.node)).toEqual([victimName]);
    expect(down[0]!.labels.severity).toBe('warning');
    await eventually(async () => {
      const { alerts } = await promApi<{ alerts: Alert[] }>(HOST_PROM_PORT, '/api/v1/alerts');
      const d = alerts.find((a) => a.labels.alertname === 'VaultNodeDown');
      expect(['pending', 'firing']).toContain(d?.state);
    }, 30_000);
    // One node down: the cluster still has a leader, so VaultNoLeader stays quiet.
    expect((await query(PROM_PORT, 'sum(vault_core_active{job="vault"})'))[0]?.value[1]).toBe('1');
    const { alerts } = await promApi<{ alerts: Alert[] }>(PROM_PORT, '/api/v1/alerts');
    expect(alerts.map((a) => a.labels.alertname)).not.toContain('VaultNoLeader');

    const h = await cluster.cli(['health', '--metrics']);
    expect(h.exitCode).toBe(1);
    expect(h.stdout).toMatch(new RegExp(`${victimName}\\s+error:`));

    await docker.getContainer(stopped).start();
    const back = await waitForHealth(
      cluster.spec.nodes.map((n, i) => ({ name: n.name, address: cluster.address(i) })),
      3,
      { ...cluster.healthDeps(), waitMs: 60_000 },
    );
    expect(back.verdict).toBe('healthy');
    await allTargetsUp(PROM_PORT);
  });

  it('down removes the Prometheus container with the nodes', async () => {
    if (hostProm && hostProm.exitCode === null) {
      hostProm.kill('SIGTERM');
      await new Promise((r) => hostProm?.once('exit', r));
    }
    const res = await cluster.cli(['down']);
    expect(res.exitCode, res.stderr).toBe(0);
    expect((await clusterResources(cluster.name)).containers).toBe(0);
  });
});

describe('the development profile: unauthenticated metrics, mutual TLS', () => {
  it('up warns about unauthenticated metrics; init makes no metrics token; Prometheus scrapes with the client certificate', async () => {
    const up = await dev.cli(['up']);
    expect(up.exitCode, up.stderr).toBe(0);
    expect(up.stderr).toContain('unauthenticatedMetricsAccess is on');
    await dev.init();
    expect(dev.state.readMetricsToken()).toBeUndefined();
    const cfg = readFileSync(join(dev.state.monitoringDir, 'prometheus.yml'), 'utf8');
    expect(cfg).not.toContain('authorization');
    expect(cfg).toContain('cert_file: /etc/vaultctl-tls/client/cert.pem');
    await allTargetsUp(DEV_PROM_PORT);
  });

  it('a sealed node is still scraped: VaultSealed fires for it, not VaultNodeDown', async () => {
    // Only the active node takes a seal request (a standby answers "cannot seal when in standby
    // mode"); the others elect a new leader and the sealed node stays scraped on its metrics listener.
    const roles = await Promise.all(
      [0, 1, 2].map((i) =>
        dev
          .api(i)
          .health()
          .then((h) => !h.standby),
      ),
    );
    const active = roles.indexOf(true);
    expect(active).toBeGreaterThanOrEqual(0);
    const sealedName = dev.node(active).name;
    await dev.api(active).write('sys/seal', {});
    const alerts = await eventually(async () => {
      const { alerts } = await promApi<{ alerts: Alert[] }>(DEV_PROM_PORT, '/api/v1/alerts');
      const sealed = alerts.find((a) => a.labels.alertname === 'VaultSealed');
      if (sealed?.state !== 'firing') throw new Error(`VaultSealed is ${sealed?.state ?? 'absent'}`);
      return alerts;
    }, 60_000);
    expect(alerts.filter((a) => a.labels.alertname === 'VaultSealed').map((a) => a.labels.node)).toEqual([
      sealedName,
    ]);
    expect(alerts.map((a) => a.labels.alertname)).not.toContain('VaultNodeDown');
    const t = await promApi<{ activeTargets: Target[] }>(DEV_PROM_PORT, '/api/v1/targets');
    expect(t.activeTargets.every((x) => x.health === 'up')).toBe(true);
    const h = await dev.cli(['health', '--metrics', '--format', 'json']);
    expect(h.exitCode).toBe(1);
    expect(JSON.parse(h.stdout).metrics[sealedName].unsealed).toBe(false);
    await dev.cli(['down']);
  });
});

describe('secrets hygiene', () => {
  it('no key, root token or metrics token appears in any vaultctl output or Prometheus log', () => {
    const metricsToken = cluster.state.readMetricsToken();
    expect(metricsToken).toBeTruthy();
    const secrets = cluster.knownSecrets([metricsToken!, ...dev.knownSecrets()]);
    expect(secrets.length).toBeGreaterThan(6);
    expect(leakedSecrets(secrets)).toEqual([]);
    const log = hostPromLog.join('');
    expect(log, 'no Prometheus log was captured: the scan would pass on nothing').not.toBe('');
    expect(secrets.filter((s) => log.includes(s))).toEqual([]);
  });
});
