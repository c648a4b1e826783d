/**
 * The seed's "KMS unavailable" scenario on a transit-sealed cluster: the unsealer goes away, the
 * nodes restart and stay sealed, `health` is down (exit 2) and names the seal backend; it comes
 * back and every node unseals itself with no acknowledged write lost (`failover-drill --fault seal`).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitForHealth } from '../../src/health/health.js';
import { unsealerContainerName } from '../../src/spec/names.js';
import { removeClusterResources, TestCluster } from '../helpers/cluster.js';
import { expectSealOutageDrillPasses } from '../helpers/seal-drill.js';

const cluster = new TestCluster({ name: 'vctl-it-sealdrill', apiPortBase: 18870, seal: { type: 'transit' } });
const targets = () => cluster.spec.nodes.map((n, i) => ({ name: n.name, address: cluster.address(i) }));

beforeAll(async () => {
  await removeClusterResources(cluster.name);
  await cluster.up();
  await cluster.init();
  const h = await waitForHealth(targets(), 3, { ...cluster.healthDeps(), waitMs: 90_000 });
  expect(h.verdict, h.reasons.join('; ')).toBe('healthy');
});
afterAll(async () => {
  await cluster.destroy();
});

describe('the seal backend away', () => {
  it('nodes restarted without it: health exits 2 naming the seal backend; back: healthy, data intact', async () => {
    await cluster.api(0).kvPut('secret', 'tenants/t1/exchanges/kraken/readonly', { api_key: 'before' });
    await cluster.runtime.stopContainer(unsealerContainerName(cluster.spec), 5);
    for (let i = 0; i < 3; i++) await cluster.runtime.stopContainer(cluster.container(i), 5);
    for (let i = 0; i < 3; i++) await cluster.runtime.startContainer(cluster.container(i));
    // The servers exit at once when the transit seal does not answer; the log names it.
    let h = await cluster.cli(['health', '--format', 'json']);
    for (let tries = 0; tries < 20 && !h.stdout.includes('seal backend unreachable'); tries++) {
      await new Promise((r) => setTimeout(r, 500));
      h = await cluster.cli(['health', '--format', 'json']);
    }
    expect(h.exitCode, h.stdout).toBe(2);
    const report = JSON.parse(h.stdout);
    expect(report.verdict).toBe('down');
    expect(report.reasons[0]).toMatch(/^seal backend unreachable: .*cannot unseal \(transit: /);
    const text = await cluster.cli(['health']);
    expect(text.exitCode).toBe(2);
    expect(text.stdout).toContain('seal backend unreachable');

    await cluster.runtime.startContainer(unsealerContainerName(cluster.spec));
    const back = await cluster.cli(['health', '--wait', '150s']);
    expect(back.exitCode, back.stdout).toBe(0);
    const got = await cluster.api(1).kvGet('secret', 'tenants/t1/exchanges/kraken/readonly');
    expect(got?.data).toEqual({ api_key: 'before' });
  });

  it('failover-drill --fault seal: sealed while away, down (exit 2) with the cause, every node back, 0 lost', async () => {
    const r = await expectSealOutageDrillPasses(cluster);
    expect(r.backend).toContain('transit');
  });
});
