import { describe, expect, it } from 'vitest';
import {
  parseSize,
  policyOf,
  retentionPlan,
  rotatedAt,
  rotatedName,
  rotationDue,
} from '../../src/audit/rotate.js';
import { resolveSpec } from '../../src/spec/resolve.js';

const policy = { maxBytes: 1000, maxAgeMs: 3600_000, keep: 3, retentionDays: 90 };
const now = new Date('2026-12-08T01:02:03.004Z');

describe('audit rotation rules', () => {
  it('names a rotated file by its time and reads the time back', () => {
    expect(rotatedName('audit.log', now)).toBe('audit-2026-12-08T01-02-03-004Z.log');
    expect(rotatedAt('audit.log', 'audit-2026-12-08T01-02-03-004Z.log.gz')).toEqual(now);
    expect(rotatedAt('audit.log', 'audit.log')).toBeUndefined();
    expect(rotatedAt('audit.log', 'audit-2026-12-08T01-02-03-004Z.log')).toBeUndefined();
    expect(rotatedAt('audit.log', 'other-2026-12-08T01-02-03-004Z.log.gz')).toBeUndefined();
  });

  it('is due by size or by the age of the first entry, never for an empty or missing file', () => {
    expect(rotationDue({ size: 1000 }, now, policy)).toMatch(/^size 1000 >= 1000/);
    expect(rotationDue({ size: 10, firstEntry: new Date(now.getTime() - 3600_000) }, now, policy)).toMatch(
      /^first entry/,
    );
    expect(
      rotationDue({ size: 10, firstEntry: new Date(now.getTime() - 60_000) }, now, policy),
    ).toBeUndefined();
    expect(rotationDue({ size: 0 }, now, policy)).toBeUndefined();
    expect(rotationDue(undefined, now, policy)).toBeUndefined();
  });

  it('retention keeps the newest `keep` and nothing older than the retention', () => {
    const day = (d: number) => `${rotatedName('audit.log', new Date(now.getTime() - d * 86_400_000))}.gz`;
    const names = ['audit.log', day(1), day(2), day(3), day(4), day(100), 'unrelated.gz'];
    expect(retentionPlan('audit.log', names, now, policy).sort()).toEqual([day(4), day(100)].sort());
    expect(retentionPlan('audit.log', names, now, { ...policy, keep: 10 })).toEqual([day(100)]);
  });

  it('reads the spec: 90 days retention by default, sizes in binary units', () => {
    const p = policyOf(resolveSpec({ name: 'au-spec' }).spec);
    expect(p).toEqual({ maxBytes: 256 * 1024 ** 2, maxAgeMs: 24 * 3600_000, keep: 1000, retentionDays: 90 });
    expect(parseSize('10KiB')).toBe(10240);
    expect(parseSize('10 MB')).toBeUndefined();
  });
});
