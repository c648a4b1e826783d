/**
 * VaultBackupStale, checked by the real promtool (`test rules`): it fires when a destination's
 * newest verified backup is older than backup.maxAge and when no agent reports at all, and stays
 * quiet while backups are fresh. Also the health verdict on the agent's status file.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { backupVerdict } from '../../src/commands/snapshot-remote.js';
import { resolveSpec } from '../../src/spec/resolve.js';
import { alertRules, renderAlertRules } from '../../src/templates/prometheus.js';

const made: string[] = [];
const tempDir = (prefix: string) => {
  const d = mkdtempSync(join(tmpdir(), prefix));
  made.push(d);
  return d;
};
afterAll(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

const spec = (backup?: Record<string, unknown>) =>
  resolveSpec({
    name: 'alphapulse',
    ...(backup ? { backup: { schedule: '0 2 * * *', destinations: [{ url: '/b' }], ...backup } } : {}),
  }).spec;

describe('VaultBackupStale', () => {
  it('is rendered only for a spec with backups', () => {
    expect(alertRules(spec()).map((r) => r.alert)).not.toContain('VaultBackupStale');
    expect(alertRules(spec({ maxAge: '26h' })).map((r) => r.alert)).toContain('VaultBackupStale');
  });

  it('promtool test rules: fires on a stale destination and on a missing agent, quiet while fresh', () => {
    const s = spec({ maxAge: '1h' });
    const rule = alertRules(s).find((r) => r.alert === 'VaultBackupStale')!;
    const dir = tempDir('vctl-ag-promtool-');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'vault-alerts.rules.yml'), renderAlertRules(s));
    const annotations = (destination: string) => ({
      summary: rule.summary,
      description: rule.description.replace('{{ $labels.destination }}', destination),
      runbook: rule.runbook,
    });
    const series = (dest: string) =>
      `vaultctl_backup_last_success_timestamp_seconds{cluster="alphapulse",destination="${dest}",job="vaultctl-agent"}`;
    const tests = {
      rule_files: ['vault-alerts.rules.yml'],
      evaluation_interval: '1m',
      tests: [
        {
          interval: '1m',
          // The local copy succeeded at t=0 and keeps succeeding (its timestamp follows time);
          // S3's last success is at t=0 and never again.
          input_series: [
            { series: series('/b'), values: '0+60x200' },
            { series: series('s3://x/y'), values: '0x200' },
          ],
          alert_rule_test: [
            { eval_time: '30m', alertname: 'VaultBackupStale', exp_alerts: [] },
            {
              eval_time: '70m',
              alertname: 'VaultBackupStale',
              exp_alerts: [
                {
                  exp_labels: {
                    severity: 'critical',
                    cluster: 'alphapulse',
                    destination: 's3://x/y',
                    job: 'vaultctl-agent',
                  },
                  exp_annotations: annotations('s3://x/y'),
                },
              ],
            },
          ],
        },
        {
          interval: '1m',
          input_series: [{ series: 'up{job="other"}', values: '1x30' }],
          alert_rule_test: [
            {
              eval_time: '10m',
              alertname: 'VaultBackupStale',
              exp_alerts: [
                {
                  exp_labels: { severity: 'critical', cluster: 'alphapulse' },
                  exp_annotations: annotations(''),
                },
              ],
            },
          ],
        },
      ],
    };
    writeFileSync(join(dir, 'rules.test.yml'), stringify(tests, { lineWidth: 0 }));
    const r = spawnSync('promtool', ['test', 'rules', 'rules.test.yml'], { cwd: dir, encoding: 'utf8' });
    if (r.error)
      throw new Error(`promtool is not installed (bash scripts/setup.sh installs it): ${r.error.message}`);
    expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
    expect(`${r.stdout}${r.stderr}`).toContain('SUCCESS');
  });
});

describe('the backup verdict of health', () => {
  it('stale without a status, fresh after a recent success, stale again past maxAge', () => {
    const s = spec({ maxAge: '1h' });
    const root = tempDir('vctl-ag-health-');
    expect(backupVerdict(s, root)?.stale).toBe(true);
    mkdirSync(join(root, 'agent'));
    const now = Date.parse('2026-12-08T12:00:00Z');
    writeFileSync(
      join(root, 'agent', 'status.json'),
      JSON.stringify({
        anchor: 0,
        jobs: {},
        destinations: {
          '/b': { consecutiveFailures: 0, totalFailures: 0, lastSuccessAt: '2026-12-08T11:30:00.000Z' },
          's3://x/y': { consecutiveFailures: 3, totalFailures: 3, lastSuccessAt: '2026-12-07T11:30:00.000Z' },
        },
      }),
    );
    expect(backupVerdict(s, root, now)).toMatchObject({ stale: false });
    expect(backupVerdict(s, root, now + 3_600_000)).toMatchObject({ stale: true });
    expect(backupVerdict(spec(), root, now)).toBeUndefined();
  });
});
