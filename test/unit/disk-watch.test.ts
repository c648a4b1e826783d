/**
 * Disk watch: the verdict and the time-to-full maths (pure), the helper's output parsed, the
 * agent's gauges, and VaultAuditDiskFilling / VaultRaftDiskFilling checked by the real promtool
 * (`test rules`): each fires past the used threshold and on a fast fall of the free bytes, and
 * stays quiet on a volume that is neither.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { renderDiskMetrics } from '../../src/agent/metrics.js';
import type { DiskSample, VolumeUsage } from '../../src/health/disk.js';
import { growthRate, judgeDisk, timeToFull, usedPercent } from '../../src/health/disk.js';
import {
  diskPolicy,
  parseDiskLines,
  readDiskSamples,
  recordDiskSample,
} from '../../src/health/disk-probe.js';
import { resolveSpec } from '../../src/spec/resolve.js';
import { alertRules, renderAlertRules } from '../../src/templates/prometheus.js';
import { itNeeds } from '../helpers/host-tools.js';

const made: string[] = [];
const tempDir = (prefix: string) => {
  const d = mkdtempSync(join(tmpdir(), prefix));
  made.push(d);
  return d;
};
afterAll(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;
const policy = { maxUsedPercent: 80, minTimeToFullMs: 24 * 3600_000 };
const vol = (over: Partial<VolumeUsage>): VolumeUsage => ({
  node: 'vault-1',
  volume: 'audit',
  usedBytes: 10 * MiB,
  fsSizeBytes: 100 * GiB,
  fsUsedBytes: 10 * GiB,
  fsAvailBytes: 90 * GiB,
  ...over,
});

describe('time to full', () => {
  it('growthRate is bytes per second between samples, undefined under 1 s apart', () => {
    expect(growthRate(1000, 0, 61_000, 60_000)).toBe(1000);
    expect(growthRate(5000, 0, 4000, 10_000)).toBe(-100);
    expect(growthRate(0, 1000, 100, 1500)).toBeUndefined();
  });

  it('timeToFull is free bytes over the rate; 0 when full; undefined when not growing', () => {
    expect(timeToFull(3600, 1)).toBe(3600);
    expect(timeToFull(0, 5)).toBe(0);
    expect(timeToFull(100, 0)).toBeUndefined();
    expect(timeToFull(100, -3)).toBeUndefined();
    expect(timeToFull(100, undefined)).toBeUndefined();
  });

  it("usedPercent is df's Use%: used over used + available, rounded up", () => {
    expect(usedPercent({ fsUsedBytes: 801, fsAvailBytes: 199 })).toBe(81);
    expect(usedPercent({ fsUsedBytes: 80, fsAvailBytes: 20 })).toBe(80);
    expect(usedPercent({ fsUsedBytes: 0, fsAvailBytes: 0 })).toBe(100);
  });
});

describe('judgeDisk', () => {
  it('a volume past the used threshold is a problem naming the node and the volume', () => {
    const cur: DiskSample = {
      at: 10_000,
      volumes: [
        vol({ fsSizeBytes: 4 * MiB, fsUsedBytes: 3.5 * MiB, fsAvailBytes: 0.5 * MiB }),
        vol({ volume: 'raft' }),
      ],
    };
    const [audit, raft] = judgeDisk(cur, undefined, policy);
    expect(audit!.usedPercent).toBe(88);
    expect(audit!.problems).toHaveLength(1);
    expect(audit!.problems[0]).toMatch(
      /^vault-1's audit volume is 88% full \(512.0 KiB free of 4.0 MiB.*threshold 80%\)$/,
    );
    expect(audit!.rateUnknown).toMatch(/no earlier sample/);
    expect(raft!.problems).toEqual([]);
  });

  it('a volume full within the horizon at its rate is a problem; a slower one is not; a shrinking one is not growing', () => {
    const prev: DiskSample = {
      at: 0,
      volumes: [vol({}), vol({ node: 'vault-2' }), vol({ node: 'vault-3', usedBytes: 20 * MiB })],
    };
    // vault-1 grows 90 GiB in 12 h (full in 12 h); vault-2 in 48 h; vault-3 shrinks.
    const hour = 3600_000;
    const cur: DiskSample = {
      at: hour,
      volumes: [
        vol({ usedBytes: 10 * MiB + (90 * GiB) / 12 }),
        vol({ node: 'vault-2', usedBytes: 10 * MiB + (90 * GiB) / 48 }),
        vol({ node: 'vault-3', usedBytes: 10 * MiB }),
      ],
    };
    const [v1, v2, v3] = judgeDisk(cur, prev, policy);
    expect(v1!.timeToFullSec).toBeCloseTo(12 * 3600, 3);
    expect(v1!.problems).toEqual(["vault-1's audit volume is full in 12.0 h at 7.5 GiB/h (threshold 1.0 d)"]);
    expect(v2!.timeToFullSec).toBeCloseTo(48 * 3600, 3);
    expect(v2!.problems).toEqual([]);
    expect(v3!.growthBytesPerSec).toBeLessThan(0);
    expect(v3!.timeToFullSec).toBeUndefined();
    expect(v3!.problems).toEqual([]);
    expect(v1!.rateUnknown).toBeUndefined();
  });

  it('the policy comes from the spec (defaults 80 % and 24 h)', () => {
    expect(diskPolicy(resolveSpec({}).spec)).toEqual(policy);
    expect(
      diskPolicy(resolveSpec({ monitoring: { diskMaxUsedPercent: 90, diskMinTimeToFull: '2h' } }).spec),
    ).toEqual({ maxUsedPercent: 90, minTimeToFullMs: 2 * 3600_000 });
  });
});

describe("the helper's output and the agent's samples", () => {
  it('parses du and stat -f lines into bytes (skipping anything else)', () => {
    const v = parseDiskLines('noise\nvault-1 audit 1288 4096 1000 400 300\nvault-1 raft 16 4096 10 10 10\n');
    expect(v).toEqual([
      {
        node: 'vault-1',
        volume: 'audit',
        usedBytes: 1288 * 1024,
        fsSizeBytes: 4096 * 1000,
        fsAvailBytes: 4096 * 300,
        fsUsedBytes: 4096 * 600,
      },
      {
        node: 'vault-1',
        volume: 'raft',
        usedBytes: 16 * 1024,
        fsSizeBytes: 40960,
        fsAvailBytes: 40960,
        fsUsedBytes: 0,
      },
    ]);
  });

  it('the agent keeps its last two samples; the metrics export the newest', () => {
    const root = tempDir('vctl-dk-samples-');
    expect(readDiskSamples(root)).toEqual([]);
    for (const at of [1000, 2000, 3000]) recordDiskSample(root, { at, volumes: [vol({ usedBytes: at })] });
    const s = readDiskSamples(root);
    expect(s.map((x) => x.at)).toEqual([2000, 3000]);
    const text = renderDiskMetrics(s.at(-1), 'alphapulse');
    expect(text).toContain(
      'vaultctl_volume_used_bytes{cluster="alphapulse",node="vault-1",volume="audit"} 3000',
    );
    expect(text).toContain(
      `vaultctl_volume_fs_avail_bytes{cluster="alphapulse",node="vault-1",volume="audit"} ${90 * GiB}`,
    );
    expect(text).toContain('# TYPE vaultctl_volume_fs_size_bytes gauge');
    expect(renderDiskMetrics(undefined, 'alphapulse')).toBe('');
  });
});

const withPromtool = itNeeds('promtool');

describe('VaultAuditDiskFilling and VaultRaftDiskFilling', () => {
  const spec = (backup: boolean) =>
    resolveSpec({
      name: 'alphapulse',
      ...(backup ? { backup: { schedule: '0 2 * * *', destinations: [{ url: '/b' }] } } : {}),
    }).spec;

  it('are rendered when the agent runs (a spec with backups)', () => {
    expect(alertRules(spec(false)).map((r) => r.alert)).not.toContain('VaultAuditDiskFilling');
    const names = alertRules(spec(true)).map((r) => r.alert);
    expect(names).toContain('VaultAuditDiskFilling');
    expect(names).toContain('VaultRaftDiskFilling');
  });

  withPromtool(
    'promtool test rules: fire past 80 % and on a fast fall of free bytes, quiet otherwise',
    () => {
      const s = spec(true);
      const dir = tempDir('vctl-dk-promtool-');
      writeFileSync(join(dir, 'vault-alerts.rules.yml'), renderAlertRules(s));
      const series = (m: string, node: string, volume: string) =>
        `vaultctl_volume_fs_${m}_bytes{cluster="alphapulse",node="${node}",volume="${volume}",job="vaultctl-agent"}`;
      const G = 1e9;
      const input_series = [
        // vault-1 audit: 85 % used, steady.
        { series: series('used', 'vault-1', 'audit'), values: `${85 * G}x120` },
        { series: series('avail', 'vault-1', 'audit'), values: `${15 * G}x120` },
        // vault-2 raft: 10 % used, losing 1 GB a minute (full in 15 h).
        { series: series('used', 'vault-2', 'raft'), values: `${100 * G}+${G}x120` },
        { series: series('avail', 'vault-2', 'raft'), values: `${900 * G}-${G}x120` },
        // vault-3 audit and raft: 50 % used, growing 1 MB a minute (years to full).
        { series: series('used', 'vault-3', 'audit'), values: `${500 * G}+1000000x120` },
        { series: series('avail', 'vault-3', 'audit'), values: `${500 * G}-1000000x120` },
        { series: series('used', 'vault-3', 'raft'), values: `${500 * G}x120` },
        { series: series('avail', 'vault-3', 'raft'), values: `${500 * G}x120` },
      ];
      const expAlert = (alert: string, node: string, volume: string) => {
        const rule = alertRules(s).find((r) => r.alert === alert)!;
        const fill = (t: string) => t.replace(/\{\{ \$labels\.node \}\}/g, node);
        return {
          exp_labels: { severity: 'warning', cluster: 'alphapulse', node, volume, job: 'vaultctl-agent' },
          exp_annotations: {
            summary: fill(rule.summary),
            description: fill(rule.description),
            runbook: rule.runbook,
          },
        };
      };
      const tests = {
        rule_files: ['vault-alerts.rules.yml'],
        evaluation_interval: '1m',
        tests: [
          {
            interval: '1m',
            input_series,
            alert_rule_test: [
              // Not yet for 10 minutes.
              { eval_time: '5m', alertname: 'VaultAuditDiskFilling', exp_alerts: [] },
              { eval_time: '5m', alertname: 'VaultRaftDiskFilling', exp_alerts: [] },
              {
                eval_time: '30m',
                alertname: 'VaultAuditDiskFilling',
                exp_alerts: [expAlert('VaultAuditDiskFilling', 'vault-1', 'audit')],
              },
              {
                eval_time: '30m',
                alertname: 'VaultRaftDiskFilling',
                exp_alerts: [expAlert('VaultRaftDiskFilling', 'vault-2', 'raft')],
              },
            ],
          },
        ],
      };
      writeFileSync(join(dir, 'rules.test.yml'), stringify(tests, { lineWidth: 0 }));
      const r = spawnSync('promtool', ['test', 'rules', 'rules.test.yml'], { cwd: dir, encoding: 'utf8' });
      expect(r.error).toBeUndefined();
      expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
      expect(r.stdout).toContain('SUCCESS');
    },
  );
});

describe("the agent's disk job", () => {
  it('measures through the helper image, keeps the sample and warns about a filling volume', async () => {
    const { FakeRuntime } = await import('../helpers/fake-runtime.js');
    const { diskJob } = await import('../../src/agent/disk-job.js');
    const { TOOLBOX_IMAGE } = await import('../../src/audit/toolbox.js');
    const s = resolveSpec({ name: 'alphapulse' }).spec;
    const runtime = new FakeRuntime([TOOLBOX_IMAGE]);
    const lines = s.nodes.flatMap((n, i) => [
      // vault-1's audit filesystem 90 % used (blocks 1000, free 100), the others 10 %.
      `${n.name} audit 100 4096 1000 ${i === 0 ? 100 : 900} ${i === 0 ? 100 : 900}`,
      `${n.name} raft 200 4096 1000 900 900`,
    ]);
    runtime.imageRuns.set(TOOLBOX_IMAGE, { exitCode: 0, output: `${lines.join('\n')}\n` });
    const root = tempDir('vctl-dk-job-');
    const warned: string[] = [];
    const log = {
      debug() {},
      info() {},
      error() {},
      warn: (msg: string, f?: Record<string, unknown>) => warned.push(`${msg} ${JSON.stringify(f)}`),
    };
    const cluster = { managed: true, runtime: () => runtime } as never;
    const job = diskJob({ spec: s, state: { root } as never, cluster, log: log as never });
    expect(job.name).toBe('disk');
    await job.run(new AbortController().signal);
    const saved = readDiskSamples(root);
    expect(saved).toHaveLength(1);
    expect(saved[0]!.volumes).toHaveLength(s.nodes.length * 2);
    expect(warned).toHaveLength(1);
    expect(warned[0]).toMatch(/^disk filling .*"node":"vault-1","volume":"audit".*is 90% full/);
    // A helper that fails (a volume missing) fails the run: the runner records the error.
    runtime.imageRuns.set(TOOLBOX_IMAGE, { exitCode: 1, output: 'du: /v/vault-1/audit: No such file' });
    await expect(job.run(new AbortController().signal)).rejects.toThrow(
      /the helper exited 1: du: \/v\/vault-1\/audit/,
    );
  });
});
