/**
 * The rendered Prometheus files, checked by the real promtool (Debian's prometheus package,
 * installed by scripts/setup.sh): `check config`, `check rules`, and `test rules` with a case per
 * alert where it fires and one where it must not.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import type { ConfigError } from '../../src/errors.js';
import { parseLdd } from '../../src/image/host-binary.js';
import { resolveSpec } from '../../src/spec/resolve.js';
import type { SpecInput } from '../../src/spec/schema.js';
import { renderCompose } from '../../src/templates/compose.js';
import { alertRules, renderAlertRules } from '../../src/templates/prometheus.js';
import { renderCluster, renderPrometheusForHost } from '../../src/templates/render.js';
import { itNeeds } from '../helpers/host-tools.js';

const withPromtool = itNeeds('promtool');
const withCompose = itNeeds('docker-compose');

const FIXTURE = new URL('../fixtures/prometheus/rules.test.yml', import.meta.url);

function promtool(args: string[], cwd: string): { code: number; out: string } {
  const r = spawnSync('promtool', args, { cwd, encoding: 'utf8' });
  if (r.error)
    throw new Error(`promtool is not installed (bash scripts/setup.sh installs it): ${r.error.message}`);
  return { code: r.status ?? -1, out: `${r.stdout}\n${r.stderr}` };
}

/** Fills `{{ $labels.x }}` and `{{ $value }}` the way Prometheus expands these simple templates. */
function expand(template: string, labels: Record<string, string>, value: string): string {
  return template
    .replace(/\{\{ \$labels\.(\w+) \}\}/g, (_, k: string) => labels[k] ?? '')
    .replace(/\{\{ \$value \}\}/g, value);
}

interface ExpAlert {
  exp_labels: Record<string, string>;
  exp_value?: string;
  exp_annotations?: Record<string, string>;
}
interface RuleTest {
  alertname: string;
  eval_time: string;
  exp_alerts: ExpAlert[];
}

let dir: string;
const spec = (input: SpecInput = {}) => resolveSpec(input).spec;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'vaultctl-prom-'));
  // promtool check config wants the referenced files to exist.
  mkdirSync(join(dir, 'state', 'tls', 'client'), { recursive: true });
  mkdirSync(join(dir, 'state', 'monitoring'), { recursive: true });
  for (const f of ['tls/ca.pem', 'tls/client/cert.pem', 'tls/client/key.pem', 'monitoring/metrics-token'])
    writeFileSync(join(dir, 'state', f), 'placeholder\n', { mode: 0o600 });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('promtool on the rendered files', () => {
  withPromtool('check config and check rules accept the host configuration (TLS, token, mutual TLS)', () => {
    for (const [name, input] of [
      ['default', {}],
      ['mtls', { tls: { requireClientCert: true } }],
      ['plain', { tls: { enabled: false }, telemetry: { unauthenticatedMetricsAccess: true } }],
    ] as const) {
      const out = join(dir, name);
      mkdirSync(out, { recursive: true });
      for (const f of renderPrometheusForHost(spec(input), join(dir, 'state')))
        writeFileSync(join(out, f.path), f.content);
      const cfg = promtool(['check', 'config', 'prometheus.yml'], out);
      expect(cfg.out, cfg.out).toMatch(/SUCCESS/);
      expect(cfg.code, cfg.out).toBe(0);
      const rules = promtool(['check', 'rules', 'vault-alerts.rules.yml'], out);
      expect(rules.code, rules.out).toBe(0);
      expect(rules.out).toContain(`SUCCESS: ${alertRules(spec(input)).length} rules found`);
    }
  });

  withPromtool('check config fails when the metrics token file is missing (so the check is real)', () => {
    const out = join(dir, 'missing-token');
    mkdirSync(out, { recursive: true });
    for (const f of renderPrometheusForHost(spec(), join(dir, 'nowhere')))
      writeFileSync(join(out, f.path), f.content);
    expect(promtool(['check', 'config', 'prometheus.yml'], out).code).not.toBe(0);
  });

  withPromtool('test rules: every alert fires when it should and not when it should not', () => {
    const s = spec();
    const rules = alertRules(s);
    const doc = parse(readFileSync(FIXTURE, 'utf8')) as { tests: { alert_rule_test: RuleTest[] }[] };
    const covered = new Map<string, { fires: number; quiet: number }>();
    for (const t of doc.tests) {
      for (const a of t.alert_rule_test) {
        const rule = rules.find((r) => r.alert === a.alertname);
        expect(rule, `${a.alertname} is not a rendered alert`).toBeDefined();
        const c = covered.get(a.alertname) ?? { fires: 0, quiet: 0 };
        if (a.exp_alerts.length > 0) c.fires++;
        else c.quiet++;
        covered.set(a.alertname, c);
        for (const e of a.exp_alerts) {
          const value = e.exp_value ?? '';
          delete e.exp_value;
          e.exp_annotations = {
            summary: expand(rule!.summary, e.exp_labels, value),
            description: expand(rule!.description, e.exp_labels, value),
            runbook: expand(rule!.runbook, e.exp_labels, value),
          };
        }
      }
    }
    for (const r of rules) {
      expect(covered.get(r.alert)?.fires ?? 0, `${r.alert} has no case where it fires`).toBeGreaterThan(0);
      expect(covered.get(r.alert)?.quiet ?? 0, `${r.alert} has no case where it stays quiet`).toBeGreaterThan(
        0,
      );
    }
    const out = join(dir, 'unit');
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, 'vault-alerts.rules.yml'), renderAlertRules(s));
    writeFileSync(join(out, 'rules.test.yml'), stringify(doc, { lineWidth: 0 }));
    const res = promtool(['test', 'rules', 'rules.test.yml'], out);
    expect(res.code, res.out).toBe(0);
    expect(res.out).toContain('SUCCESS');
  });
});

describe('rendered monitoring', () => {
  it('alert rules use only metric names the real endpoint exports, each with severity, summary, runbook', () => {
    const known = [
      'up',
      'vault_core_unsealed',
      'vault_core_active',
      'vault_raft_storage_stats_term',
      'vault_autopilot_failure_tolerance',
      'vault_autopilot_node_healthy',
      'vault_core_handle_request',
      'vault_audit_log_request_failure',
      'vault_audit_log_response_failure',
      // HAProxy 2.6.12's exporter on the endpoint, as the cluster's Prometheus scraped it.
      'haproxy_backend_active_servers',
    ];
    for (const r of alertRules(spec())) {
      const names = [...[...r.expr.matchAll(/([a-z_][a-z0-9_]*)\{/g)].map((m) => m[1]!)];
      expect(names.length).toBeGreaterThan(0);
      for (const n of names) expect(known, `${r.alert}: ${n}`).toContain(n);
      expect(['critical', 'warning']).toContain(r.severity);
      expect(r.summary.length).toBeGreaterThan(10);
      expect(r.runbook.length).toBeGreaterThan(10);
    }
    expect(alertRules(spec()).map((r) => r.alert)).toEqual([
      'VaultNodeDown',
      'VaultSealed',
      'VaultNoLeader',
      'VaultLeadershipFlapping',
      'VaultRaftFailureToleranceLow',
      'VaultRaftVotersBelowExpected',
      'VaultHighLatency',
      'VaultEndpointNoBackend',
      'VaultAuditLogFailures',
    ]);
    // Without an endpoint there is nothing to alert on.
    expect(alertRules(spec({ endpoint: { enabled: false } })).map((r) => r.alert)).not.toContain(
      'VaultEndpointNoBackend',
    );
  });

  it('monitoring.alertFor replaces every `for`; expected voters follow the node count', () => {
    const s = spec({ nodeCount: 5, monitoring: { alertFor: '5s' } });
    const doc = parse(renderAlertRules(s)) as { groups: { rules: { for: string; expr: string }[] }[] };
    expect(doc.groups[0]!.rules.every((r) => r.for === '5s')).toBe(true);
    expect(doc.groups[0]!.rules.map((r) => r.expr).join('\n')).toContain('< 5');
  });

  it('up --monitoring adds a Prometheus container: cluster label, 127.0.0.1 port, read-only mounts, no token inside', () => {
    const s = spec({ monitoring: { enabled: true, port: 19090, image: 'vaultctl/prometheus:2.42.0' } });
    const rendered = renderCluster(s, '/state');
    const prom = rendered.containers.find((c) => c.name === 'alphapulse-prometheus');
    expect(prom).toBeDefined();
    expect(prom!.labels['io.vaultctl.cluster']).toBe('alphapulse');
    expect(prom!.ports).toEqual([{ hostIp: '127.0.0.1', hostPort: 19090, containerPort: 9090 }]);
    expect(prom!.network.name).toBe('alphapulse-net');
    expect(prom!.mounts.every((m) => m.type === 'bind' && m.readOnly)).toBe(true);
    const cfg = rendered.files.find((f) => f.path === 'monitoring/prometheus.yml')!.content;
    // Each node's metrics listener: its own metrics, standby or not.
    expect(cfg).toContain('vault-1:8210');
    expect(cfg).toContain('credentials_file: /etc/prometheus/metrics-token');
    expect(cfg).toContain('ca_file: /etc/vaultctl-tls/ca.pem');
    const compose = renderCompose(rendered, '/state');
    expect(compose).toContain('./monitoring:/etc/prometheus:ro');
    expect(compose).toContain(`${'$'}{VAULTCTL_TLS_DIR:-./tls}/ca.pem:/etc/vaultctl-tls/ca.pem:ro`);
    expect(compose).toContain('127.0.0.1:19090:9090');
    // Without monitoring nothing changes: the golden files cover that.
    expect(renderCluster(spec(), '/state').containers.map((c) => c.name)).not.toContain(
      'alphapulse-prometheus',
    );
  });

  withCompose('the compose file with monitoring is valid for docker-compose', () => {
    const s = spec({ monitoring: { enabled: true } });
    const out = join(dir, 'compose');
    const rendered = renderCluster(s, out);
    for (const f of rendered.files) {
      mkdirSync(join(out, f.path, '..'), { recursive: true });
      writeFileSync(join(out, f.path), f.content);
    }
    const res = spawnSync('docker-compose', ['-f', 'docker-compose.vault.yml', 'config', '-q'], {
      cwd: out,
      encoding: 'utf8',
    });
    expect(res.error).toBeUndefined();
    expect(res.status, res.stderr).toBe(0);
  });

  it('a monitoring port equal to a node port is refused', () => {
    try {
      resolveSpec({ monitoring: { port: 8202 } });
      expect.unreachable();
    } catch (err) {
      expect((err as ConfigError).problems).toEqual([
        { path: 'monitoring.port', message: 'port 8202 is the API port of vault-2' },
      ]);
    }
  });

  withPromtool('promtool is the Debian version the rules were written for', () => {
    const v = execFileSync('promtool', ['--version'], { encoding: 'utf8' });
    expect(v).toMatch(/version 2\.\d+/);
  });
});

describe('the Prometheus image', () => {
  it('takes the libraries and the loader from ldd output, nothing for a static binary', () => {
    const out = [
      '\tlinux-vdso.so.1 (0x00007ffd5a1f2000)',
      '\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f9983acb000)',
      '\t/lib64/ld-linux-x86-64.so.2 (0x00007f9983cc0000)',
    ].join('\n');
    expect(parseLdd(out)).toEqual(['/lib/x86_64-linux-gnu/libc.so.6', '/lib64/ld-linux-x86-64.so.2']);
    expect(parseLdd('\tnot a dynamic executable\n')).toEqual([]);
  });
});
