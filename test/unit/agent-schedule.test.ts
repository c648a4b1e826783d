import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { retentionPlan, type StoredSnapshot } from '../../src/agent/destination.js';
import { makeLogger } from '../../src/agent/log.js';
import { renderMetrics } from '../../src/agent/metrics.js';
import { dueSlot, type Job, JobRunner, type WallClock } from '../../src/agent/runner.js';
import { StatusStore } from '../../src/agent/status.js';
import { ConfigError } from '../../src/errors.js';
import { resolveSpec } from '../../src/spec/resolve.js';
import { nextRun, parseSchedule, previousRun, ScheduleError } from '../../src/spec/schedule.js';

const T = (iso: string) => Date.parse(iso);

describe('schedules', () => {
  it('0 2 * * * is due at 02:00 UTC every day', () => {
    const s = parseSchedule('0 2 * * *');
    expect(new Date(nextRun(s, T('2026-12-08T00:39:00Z'))).toISOString()).toBe('2026-12-08T02:00:00.000Z');
    expect(new Date(nextRun(s, T('2026-12-08T02:00:00Z'))).toISOString()).toBe('2026-12-09T02:00:00.000Z');
    expect(new Date(previousRun(s, T('2026-12-08T01:59:00Z'))!).toISOString()).toBe(
      '2026-12-07T02:00:00.000Z',
    );
  });

  it('steps, ranges, lists, names and the day-of-month/day-of-week OR rule', () => {
    const s = parseSchedule('*/15 9-17 * * mon-fri');
    // Saturday 2026-12-12 -> Monday 09:00
    expect(new Date(nextRun(s, T('2026-12-12T10:00:00Z'))).toISOString()).toBe('2026-12-14T09:00:00.000Z');
    expect(new Date(nextRun(s, T('2026-12-14T09:01:00Z'))).toISOString()).toBe('2026-12-14T09:15:00.000Z');
    const either = parseSchedule('0 0 1 * 0'); // the 1st, or a Sunday
    expect(new Date(nextRun(either, T('2026-12-08T00:00:00Z'))).toISOString()).toBe(
      '2026-12-13T00:00:00.000Z',
    );
    expect(new Date(nextRun(parseSchedule('@daily'), T('2026-12-08T05:00:00Z'))).toISOString()).toBe(
      '2026-12-09T00:00:00.000Z',
    );
  });

  it('@every counts from the anchor', () => {
    const s = parseSchedule('@every 15m');
    const anchor = T('2026-12-08T00:00:00Z');
    expect(nextRun(s, anchor + 1, anchor)).toBe(anchor + 15 * 60_000);
    expect(previousRun(s, anchor + 31 * 60_000, anchor)).toBe(anchor + 30 * 60_000);
  });

  it.each([
    ['0 2 * *', /has 4 fields/],
    ['61 * * * *', /minute field has 61, outside 0-59/],
    ['0 25 * * *', /hour field has 25/],
    ['a b c d e', /not a number/],
    ['5-1 * * * *', /runs backwards/],
    ['@every soon', /needs a duration/],
    ['@hourlyish', /unknown macro/],
  ])('refuses %j', (text, why) => {
    expect(() => parseSchedule(text)).toThrow(ScheduleError);
    expect(() => parseSchedule(text)).toThrow(why);
  });

  it('a date that never comes is refused, not looped on', () => {
    expect(() => nextRun(parseSchedule('0 0 30 2 *'), T('2026-01-01T00:00:00Z'))).toThrow(/never due/);
  });
});

describe('the backup section of the spec', () => {
  const base = { schedule: '0 2 * * *', destinations: [{ url: '/var/backups/vault', keep: 7 }] };

  it('accepts the seed design (daily at 02:00, local 7, S3 90 days) and fills defaults', () => {
    const { spec } = resolveSpec({
      backup: {
        ...base,
        destinations: [
          { url: '/var/backups/vault', keep: 7, maxAge: '7d' },
          { url: 's3://alphapulse-backups/vault', region: 'eu-west-1', maxAge: '90d' },
        ],
      },
    });
    expect(spec.backup?.jitter).toBe('0s');
    expect(spec.backup?.maxAge).toBe('26h');
    expect(spec.backup?.destinations).toHaveLength(2);
  });

  it('reports every problem at once, each with its dotted path', () => {
    let err: unknown;
    try {
      resolveSpec({
        backup: {
          schedule: '0 2 * *',
          jitter: 'soon',
          destinations: [
            { url: 'gs://bucket/x' },
            { url: 's3://b/x' },
            { url: 'relative/dir' },
            { url: 's3://good-bucket/x' },
            { url: '/d', region: 'x' },
          ],
          encryption: { ageRecipients: ['AGE-SECRET-KEY-1XYZ'], gpgPublicKeys: ['key.asc'] },
        },
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const text = (err as ConfigError).render();
    expect(text).toMatch(/backup\.schedule: not a schedule: "0 2 \* \*" has 4 fields/);
    expect(text).toMatch(/backup\.jitter: expected a duration/);
    expect(text).toMatch(/backup\.destinations\.0\.url: unknown destination scheme "gs:\/\/"/);
    expect(text).toMatch(/backup\.destinations\.1\.url: expected s3:\/\/bucket\/prefix/);
    expect(text).toMatch(/backup\.destinations\.2\.url: expected an absolute directory/);
    expect(text).toMatch(/backup\.encryption\.gpgPublicKeys\.0: expected an absolute path/);
  });

  it('cross-field rules: s3 needs a region, region only for s3, one encryption format, no secret keys', () => {
    expect(() =>
      resolveSpec({
        backup: {
          schedule: '@every 1h',
          destinations: [{ url: 's3://good-bucket/x' }, { url: '/d', region: 'x' }],
          encryption: {
            ageRecipients: ['AGE-SECRET-KEY-1QQQ'],
            gpgPublicKeys: ['/k.asc'],
          },
        },
      }),
    ).toThrow(ConfigError);
    try {
      resolveSpec({
        backup: {
          schedule: '@every 1h',
          destinations: [{ url: 's3://good-bucket/x' }, { url: '/d', region: 'x' }],
          encryption: { ageRecipients: ['AGE-SECRET-KEY-1QQQ'], gpgPublicKeys: ['/k.asc'] },
        },
      });
    } catch (e) {
      const text = (e as ConfigError).render();
      expect(text).toMatch(/backup\.destinations\.0\.region: an s3:\/\/ destination needs a region/);
      expect(text).toMatch(/backup\.destinations\.1\.region: only for s3/);
      expect(text).toMatch(/backup\.encryption: give age recipients or GPG public keys, not both/);
      expect(text).toMatch(/ageRecipients\.0: an age secret key, not a recipient/);
      expect(text).not.toMatch(/AGE-SECRET-KEY-1QQQ/);
    }
  });
});

const snap = (name: string, createdAt: string): StoredSnapshot => ({
  key: name,
  url: `/d/${name}`,
  meta: { createdAt } as StoredSnapshot['meta'],
});

describe('retention', () => {
  const now = T('2026-12-08T00:00:00Z');
  const list = [
    snap('a', '2026-12-07T00:00:00Z'),
    snap('b', '2026-12-06T00:00:00Z'),
    snap('c', '2026-12-01T00:00:00Z'),
    snap('d', '2026-11-01T00:00:00Z'),
  ];
  it('keep newest N', () => {
    expect(retentionPlan(list, { keep: 2 }, now).map((s) => s.key)).toEqual(['c', 'd']);
  });
  it('maxAge alone, and with keep only those beyond keep and older', () => {
    expect(retentionPlan(list, { maxAgeMs: 3 * 86_400_000 }, now).map((s) => s.key)).toEqual(['c', 'd']);
    expect(retentionPlan(list, { keep: 3, maxAgeMs: 3 * 86_400_000 }, now).map((s) => s.key)).toEqual(['d']);
  });
  it('never removes the newest verified snapshot, however old', () => {
    expect(retentionPlan([snap('old', '2020-01-01T00:00:00Z')], { maxAgeMs: 1000, keep: 1 }, now)).toEqual(
      [],
    );
    expect(retentionPlan(list, { maxAgeMs: 1 }, now).map((s) => s.key)).toEqual(['b', 'c', 'd']);
  });
  it('no rule, nothing removed', () => {
    expect(retentionPlan(list, {}, now)).toEqual([]);
  });
});

const made: string[] = [];
afterAll(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

/** A clock whose sleep advances time at once (schedules tested without waiting). */
function fakeClock(start: number): WallClock & { t: number } {
  const c = {
    t: start,
    now: () => c.t,
    sleep: async (ms: number, signal?: AbortSignal) => {
      if (signal?.aborted) throw signal.reason;
      c.t += ms;
    },
  };
  return c;
}

describe('the job runner', () => {
  it('dueSlot: a first start runs at once; a missed slot runs once; a slot already run does not', () => {
    const s = parseSchedule('0 2 * * *');
    const now = T('2026-12-08T12:00:00Z');
    expect(dueSlot(s, undefined, now, 0)).toBe(T('2026-12-08T02:00:00Z'));
    // Down for three days: one run, for the latest slot.
    expect(dueSlot(s, T('2026-12-05T02:00:00Z'), now, 0)).toBe(T('2026-12-08T02:00:00Z'));
    expect(dueSlot(s, T('2026-12-08T02:00:00Z'), now, 0)).toBeUndefined();
  });

  it('runs each slot once, with jitter, records failures and the status, stops on abort', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vctl-agent-'));
    made.push(dir);
    const start = T('2026-12-08T00:00:00Z');
    const clock = fakeClock(start);
    const store = new StatusStore(dir, start);
    const lines: string[] = [];
    const log = makeLogger('json', (l) => lines.push(l), { now: clock.now });
    const stop = new AbortController();
    const runs: number[] = [];
    const job: Job = {
      name: 'backup',
      schedule: parseSchedule('@every 10s'),
      jitterMs: 2000,
      timeoutMs: 60_000,
      run: async () => {
        runs.push(clock.now());
        if (runs.length === 2) throw new Error('bucket gone');
        if (runs.length === 4) stop.abort();
      },
    };
    await new JobRunner([job], { store, log, clock, random: () => 0.5 }).run(stop.signal);
    // First start: at once; then every 10 s plus 1 s of jitter.
    expect(runs.map((r) => (r - start) / 1000)).toEqual([0, 11, 21, 31]);
    const st = JSON.parse(readFileSync(join(dir, 'agent', 'status.json'), 'utf8'));
    expect(st.jobs.backup.totalRuns).toBe(4);
    expect(st.jobs.backup.totalFailures).toBe(1);
    expect(st.jobs.backup.consecutiveFailures).toBe(0);
    expect(lines.some((l) => JSON.parse(l).error === 'bucket gone')).toBe(true);
    expect(lines.at(-1)).toMatch(/"msg":"agent stopped"/);
  });

  it('a run aborted by a stop is run again at the next start', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vctl-agent-'));
    made.push(dir);
    const start = T('2026-12-08T03:00:00Z');
    const clock = fakeClock(start);
    const store = new StatusStore(dir, start);
    const log = makeLogger('text', () => {});
    const stop = new AbortController();
    const job: Job = {
      name: 'backup',
      schedule: parseSchedule('0 2 * * *'),
      jitterMs: 0,
      timeoutMs: 60_000,
      run: async (signal) => {
        stop.abort();
        signal.throwIfAborted();
      },
    };
    await new JobRunner([job], { store, log, clock }).run(stop.signal);
    expect(store.job('backup').lastSlot).toBeUndefined();
    expect(store.job('backup').lastError).toMatch(/aborted/);
    const again = new StatusStore(dir, start);
    expect(dueSlot(job.schedule, again.job('backup').lastSlot, start, again.status.anchor)).toBe(
      T('2026-12-08T02:00:00Z'),
    );
  });
});

describe('metrics', () => {
  it('renders the status as Prometheus text', () => {
    const text = renderMetrics(
      {
        anchor: 0,
        jobs: { backup: { consecutiveFailures: 0, totalFailures: 2, totalRuns: 5, lastDurationMs: 1500 } },
        destinations: {
          's3://b/p': {
            consecutiveFailures: 1,
            totalFailures: 2,
            lastSuccessAt: '2026-12-08T00:00:00.000Z',
            lastSize: 1234,
          },
        },
      },
      'alphapulse',
    );
    expect(text).toContain(
      'vaultctl_backup_last_success_timestamp_seconds{cluster="alphapulse",destination="s3://b/p"} 1796688000',
    );
    expect(text).toContain('vaultctl_backup_failures_total{cluster="alphapulse",destination="s3://b/p"} 2');
    expect(text).toContain('vaultctl_agent_job_last_duration_seconds{cluster="alphapulse",job="backup"} 1.5');
  });
});
