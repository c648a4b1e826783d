/**
 * `failover-drill --fault seal` through the CLI, and what every seal backend's drill must show: the
 * restarted follower blocked by the seal backend and still sealed, every node down (health exit 2)
 * naming it, healed, writes acknowledged, none lost. Returns the JSON report for the caller's own checks.
 */
import { expect } from 'vitest';
import type { TestCluster } from './cluster.js';

export async function expectSealOutageDrillPasses(cluster: TestCluster): Promise<Record<string, any>> {
  const res = await cluster.cli([
    'failover-drill',
    '--fault',
    'seal',
    '--duration',
    '5s',
    '--heal-timeout',
    '150s',
    '--yes',
    '--format',
    'json',
  ]);
  expect(res.exitCode, `${res.stdout}\n${res.stderr}`).toBe(0);
  const r = JSON.parse(res.stdout);
  expect(r.oneRestarted.sealBlocked).toContain(r.oneRestarted.node);
  expect(r.oneRestarted.unsealed).not.toContain(r.oneRestarted.node);
  expect(r.allRestarted.exitCode).toBe(2);
  expect(r.allRestarted.unsealed).toEqual([]);
  expect(r.allRestarted.sealBlocked).toHaveLength(3);
  expect(r.allRestarted.reasons[0]).toMatch(/^seal backend unreachable/);
  expect(r.healed).toBe(true);
  expect(r.recoveryMs).toBeGreaterThan(0);
  expect(r.writes.acked).toBeGreaterThan(0);
  expect(r.lostWrites).toBe(0);
  return r;
}
