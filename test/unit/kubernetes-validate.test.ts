/**
 * The rendered Kubernetes manifests, checked by the real tools scripts/setup.sh installs (pinned in
 * config/versions.env, in a venv of their own, offline): kubernetes-validate --strict against the
 * OpenAPI schemas of the pinned Kubernetes version, checkov's Kubernetes checks (every failed
 * check fixed or waived in the manifest with a reason), and promtool on the PrometheusRule's rules.
 * Each tool is also shown to fail on a broken manifest, so a pass means something.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { resolveSpec } from '../../src/spec/resolve.js';
import { renderKubernetes } from '../../src/templates/kubernetes.js';
import { KUBERNETES_CASES } from '../helpers/kubernetes-cases.js';
import { REPO_ROOT } from '../helpers/paths.js';

// checkov takes 10-20 s a run on a quiet machine.
const SLOW = 300_000;

function pinned(key: string): string {
  const env = readFileSync(join(REPO_ROOT, 'config/versions.env'), 'utf8');
  const m = new RegExp(`^${key}=(.+)$`, 'm').exec(env);
  if (!m) throw new Error(`${key} is not in config/versions.env`);
  return m[1]!.trim();
}

let root: string;
let bin: string;
const caseDirs: string[] = [];

function run(tool: string, args: string[]): { code: number; out: string } {
  const r = spawnSync(join(bin, tool), args, { cwd: root, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.error) throw new Error(`${tool} did not run (bash scripts/setup.sh installs it): ${r.error.message}`);
  return { code: r.status ?? -1, out: `${r.stdout}\n${r.stderr}` };
}

/** The top-level manifests of a case (monitoring/ holds the Prometheus Operator's objects). */
function coreFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => join(dir, f));
}

beforeAll(() => {
  // Idempotent: installs them when absent (minutes), else only prints where they are.
  bin = execFileSync('bash', ['scripts/setup.sh', '--print-k8s-lint'], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
  }).trim();
  root = mkdtempSync(join(tmpdir(), 'vaultctl-k8s-validate-'));
  for (const [name, input] of Object.entries(KUBERNETES_CASES)) {
    const dir = join(root, name);
    for (const f of renderKubernetes(resolveSpec(input).spec)) {
      mkdirSync(dirname(join(dir, f.path)), { recursive: true });
      writeFileSync(join(dir, f.path), f.content);
    }
    caseDirs.push(dir);
  }
}, SLOW);

afterAll(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

describe('kubernetes-validate --strict', () => {
  const version = () => pinned('KUBERNETES_SCHEMA_VERSION');

  it(
    'passes every manifest of every case against the pinned Kubernetes version',
    () => {
      const files = caseDirs.flatMap(coreFiles);
      expect(files.length).toBe(caseDirs.length * 10);
      const r = run('kubernetes-validate', ['--strict', '-k', version(), ...files]);
      expect(r.out).not.toMatch(/ERROR|failed/);
      expect(r.code, r.out).toBe(0);
      expect(r.out.match(/ passed for resource /g)).toHaveLength(files.length);
    },
    SLOW,
  );

  it(
    'fails a manifest with a field the schema does not know (strict means strict)',
    () => {
      const sts = join(caseDirs[0]!, '07-statefulset.yaml');
      const doc = parse(readFileSync(sts, 'utf8'));
      doc.spec.template.spec.containers[0].readinessProbe.httpGett = { path: '/' };
      const broken = join(root, 'broken-statefulset.yaml');
      writeFileSync(broken, stringify(doc));
      const r = run('kubernetes-validate', ['--strict', '-k', version(), broken]);
      expect(r.code).not.toBe(0);
      expect(r.out).toMatch(/httpGett/);
    },
    SLOW,
  );
});

interface CheckovResult {
  check_id: string;
  resource: string;
  file_path: string;
}
interface CheckovReport {
  summary: { passed: number; failed: number; skipped: number; parsing_errors: number };
  results: { failed_checks: CheckovResult[]; skipped_checks: CheckovResult[] };
}

function checkov(dir: string): CheckovReport {
  // --skip-download: offline, no call to the vendor's platform.
  const r = run('checkov', ['-d', dir, '--framework', 'kubernetes', '--skip-download', '-o', 'json']);
  const parsed = JSON.parse(r.out.slice(r.out.indexOf('{'), r.out.lastIndexOf('}') + 1)) as
    | CheckovReport
    | CheckovReport[];
  return Array.isArray(parsed) ? parsed[0]! : parsed;
}

/** `checkov.io/skipN: CHECK=reason` annotations of every manifest under dir. */
function waivers(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const f of readdirSync(dir, { recursive: true })
    .map(String)
    .filter((p) => p.endsWith('.yaml'))) {
    const text = readFileSync(join(dir, f), 'utf8');
    for (const m of text.matchAll(/checkov\.io\/skip\d+: "?(CKV\w+)=(.+?)"?$/gm)) out.set(m[1]!, m[2]!);
  }
  return out;
}

describe("checkov's Kubernetes checks", () => {
  it(
    'no failed check: each one is fixed, or waived in the manifest with a reason',
    () => {
      const report = checkov(root);
      expect(report.summary.parsing_errors).toBe(0);
      expect(report.results.failed_checks.map((c) => `${c.check_id} ${c.file_path}`)).toEqual([]);
      expect(report.summary.passed).toBeGreaterThan(100);
      const waived = new Map<string, string>();
      for (const d of caseDirs) for (const [k, v] of waivers(d)) waived.set(k, v);
      // Every skip is one of the manifests' own waivers, each with a reason of some length.
      for (const c of report.results.skipped_checks) expect(waived.has(c.check_id), c.check_id).toBe(true);
      for (const [check, reason] of waived) expect(reason.length, check).toBeGreaterThan(30);
    },
    SLOW,
  );

  it(
    'every waiver is needed: without them, exactly the waived checks fail',
    () => {
      const transit = caseDirs.find((d) => d.endsWith('transit-3'))!;
      const bare = join(root, 'no-waivers');
      mkdirSync(bare);
      for (const f of coreFiles(transit)) {
        const text = readFileSync(f, 'utf8').replace(/^\s*checkov\.io\/skip\d+: .*\n/gm, '');
        writeFileSync(join(bare, f.slice(transit.length + 1)), text);
      }
      const report = checkov(bare);
      rmSync(bare, { recursive: true, force: true });
      const failed = [...new Set(report.results.failed_checks.map((c) => c.check_id))].sort();
      expect(failed).toEqual([...waivers(transit).keys()].sort());
    },
    SLOW,
  );
});

describe('the PrometheusRule', () => {
  it('holds rules promtool accepts', () => {
    const rule = parse(readFileSync(join(caseDirs[0]!, 'monitoring/prometheusrule.yaml'), 'utf8'));
    const file = join(root, 'rules.yml');
    writeFileSync(file, stringify({ groups: rule.spec.groups }));
    const r = spawnSync('promtool', ['check', 'rules', file], { encoding: 'utf8' });
    if (r.error)
      throw new Error(`promtool is not installed (bash scripts/setup.sh installs it): ${r.error.message}`);
    expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(/SUCCESS: \d+ rules found/);
  });
});
