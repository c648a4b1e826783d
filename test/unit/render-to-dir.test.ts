/**
 * The render use cases against a temp state dir: where the files go, what the state dir keeps,
 * and that re-rendering into the state dir leaves unchanged files alone.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Progress } from '../../src/cluster/events.js';
import { renderPrometheusFiles, renderToDir } from '../../src/lifecycle/render.js';
import { resolveSpec } from '../../src/spec/resolve.js';
import { StateDir } from '../../src/state/state-dir.js';
import { tlsPaths } from '../../src/tls/tls.js';
import { silentProgress } from '../helpers/progress.js';

let dir: string;
let state: StateDir;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vaultctl-render-'));
  state = StateDir.forCluster(join(dir, '.vaultctl'), 'alphapulse');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const { spec } = resolveSpec({});
const deps = { progress: silentProgress };

describe('renderToDir', () => {
  it('into a directory of the user: every file 0644 there; the state dir keeps the spec and TLS', async () => {
    const out = join(dir, 'rendered');
    const res = await renderToDir(spec, state, out, deps);
    expect(res.outDir).toBe(out);
    expect(res.files).toContain('docker-compose.vault.yml');
    expect(res.changed).toEqual(res.files);
    for (const f of res.files) expect(statSync(join(out, f)).mode & 0o777).toBe(0o644);
    expect(existsSync(join(state.root, 'docker-compose.vault.yml'))).toBe(false);
    expect(existsSync(state.specFile)).toBe(true);
    expect(res.tlsDir).toBe(tlsPaths(state).dir);
    expect(existsSync(tlsPaths(state).caCert)).toBe(true);
  });

  it('into the state dir: a second render changes nothing', async () => {
    const first = await renderToDir(spec, state, undefined, deps);
    expect(first.outDir).toBe(state.root);
    expect(first.changed).toEqual(first.files);
    for (const f of first.files) expect(existsSync(join(state.root, f))).toBe(true);
    const again = await renderToDir(spec, state, undefined, deps);
    expect(again.files).toEqual(first.files);
    expect(again.changed).toEqual([]);
  });
});

describe('renderPrometheusFiles', () => {
  it('writes the scrape config and rules (default <state dir>/prometheus) and warns without a metrics token', () => {
    state.ensure();
    const warnings: string[] = [];
    const progress: Progress = { ...silentProgress, warn: (t) => warnings.push(t) };
    const res = renderPrometheusFiles(spec, state, undefined, { progress });
    expect(res.outDir).toBe(join(state.root, 'prometheus'));
    expect(res.files).toEqual(['prometheus.yml', 'vault-alerts.rules.yml']);
    expect(readFileSync(join(res.outDir, 'prometheus.yml'), 'utf8')).toContain(res.metricsTokenFile);
    expect(res.metricsTokenFile).toBe(state.metricsTokenFile);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('does not exist yet');
  });

  it('says nothing when the metrics endpoint needs no token', () => {
    const open = resolveSpec({ telemetry: { unauthenticatedMetricsAccess: true } }).spec;
    const warnings: string[] = [];
    const progress: Progress = { ...silentProgress, warn: (t) => warnings.push(t) };
    renderPrometheusFiles(open, state, join(dir, 'prom'), { progress });
    expect(warnings).toEqual([]);
    expect(existsSync(join(dir, 'prom', 'prometheus.yml'))).toBe(true);
  });
});
