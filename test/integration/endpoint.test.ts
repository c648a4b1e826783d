/**
 * The active-node endpoint and consistent reads, on a real cluster with a real HAProxy: what an
 * application that knows one address sees. The seed's own flow (write, read back, delete, read
 * gives 404) through every address, whichever node is active; write-then-read pairs through
 * standbys; a killed leader under a single-address writer; the endpoint itself stopped.
 */
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VaultClient } from '../../src/client/index.js';
import { endpointAddress, endpointContainerName } from '../../src/spec/names.js';
import { connectVaultNode } from '../../src/vault/api.js';
import type { VaultNode } from '../../src/vault/port.js';
import {
  clusterResources,
  eventually,
  removeClusterResources,
  runCli,
  TestCluster,
} from '../helpers/cluster.js';

const cluster = new TestCluster({ name: 'vctl-it-endpoint', apiPortBase: 18600 });
const endpoint = () => endpointAddress(cluster.spec)!;
const TENANT = '33333333-3333-4333-8333-333333333333';

function api(address: string, timeoutMs = 5000): VaultNode {
  return connectVaultNode({ address, token: cluster.rootToken, tls: cluster.tls, timeoutMs });
}

/** Index of the active node, asked of every node directly. */
async function activeIndex(): Promise<number> {
  return eventually(async () => {
    const roles = await Promise.all(
      cluster.addresses.map((a) =>
        api(a, 2000)
          .health()
          .then((h) => h.initialized && !h.sealed && !h.standby)
          .catch(() => false),
      ),
    );
    const i = roles.indexOf(true);
    expect(i, 'an active node').toBeGreaterThanOrEqual(0);
    return i;
  }, 30_000);
}

/**
 * Makes node `want` the active one by a step-down of the current leader. Raft hands leadership
 * to the most up-to-date follower, so the third node is paused meanwhile: `want` is then the only
 * follower the leader can hand over to (two of three nodes keep quorum).
 */
async function makeActive(want: number): Promise<void> {
  const now = await activeIndex();
  if (now === want) return;
  const third = [0, 1, 2].find((i) => i !== now && i !== want)!;
  await cluster.runtime.pauseContainer(cluster.container(third));
  try {
    await api(cluster.address(now)).write('sys/step-down', {}, 'stepping down');
    await eventually(async () => expect(await activeIndex()).toBe(want), 30_000);
  } finally {
    await cluster.runtime.unpauseContainer(cluster.container(third));
  }
  await healthy();
}

/** `vaultctl health` exits 0: every node unsealed and caught up, one active, the endpoint routing. */
async function healthy(): Promise<void> {
  await eventually(async () => {
    const h = await cluster.cli(['health']);
    expect(h.exitCode, h.stdout).toBe(0);
  }, 90_000);
}

beforeAll(async () => {
  await removeClusterResources(cluster.name);
  await cluster.up();
  await cluster.init();
});
afterAll(async () => {
  await cluster.destroy();
});

describe('one stable address for applications', () => {
  it("the seed's flow passes through every node's address and the endpoint, whichever node is active", async () => {
    const addresses = [...cluster.addresses, endpoint()];
    for (const want of [0, 1, 2]) {
      await makeActive(want);
      // The endpoint follows within its check interval.
      await eventually(
        async () => expect((await api(endpoint(), 2000).health()).standby).toBe(false),
        10_000,
      );
      for (const [i, via] of addresses.entries()) {
        const client = api(via);
        const path = `tenants/${TENANT}/exchanges/binance/trading-${want}-${i}`;
        await client.kvPut('secret', path, { api_key: `ak-${want}-${i}` });
        // Read back at once, through the same address and through every other one.
        for (const other of addresses)
          expect((await api(other).kvGet('secret', path))?.data, `${via} -> ${other}`).toEqual({
            api_key: `ak-${want}-${i}`,
          });
        await client.call('DELETE', `/secret/metadata/${path}`, 'deleting the test credential');
        for (const other of addresses) expect(await api(other).kvGet('secret', path), other).toBeUndefined();
      }
    }
  });

  it('200 write-then-read pairs through standbys, and through VaultClient with a standby first: none stale', async () => {
    await healthy();
    const active = await activeIndex();
    const standbys = cluster.addresses.filter((_, i) => i !== active);
    const [w, r] = [api(standbys[0]!), api(standbys[1]!)];
    let stale = 0;
    for (let i = 0; i < 200; i++) {
      const path = `consistency/pair-${i}`;
      await w.kvPut('secret', path, { n: i });
      if ((await r.kvGet('secret', path))?.data.n !== i) stale++;
    }
    expect(stale).toBe(0);
    const client = new VaultClient({
      addresses: [...standbys, cluster.address(active)],
      token: cluster.rootToken,
      ca: cluster.tls!.ca,
      cache: { enabled: false },
      env: {},
    });
    let missing = 0;
    for (let i = 0; i < 200; i++) {
      const path = `tenants/${TENANT}/exchanges/kraken/readonly-${i}`;
      await client.writeSecret(path, { api_key: `k${i}` });
      if ((await client.readSecret(path))?.api_key !== `k${i}`) missing++;
    }
    expect(missing).toBe(0);
    expect(client.stats().currentAddress).toBe(standbys[0]);
  });

  it('the leader killed under a single-address writer: writes resume through the endpoint, none acknowledged is lost', async () => {
    await healthy();
    const leader = await activeIndex();
    const writer = api(endpoint(), 1000);
    const acked: number[] = [];
    let failed = 0;
    let killedAt = 0;
    let firstAckAfterKill: number | undefined;
    const start = performance.now();
    for (let i = 0; performance.now() - start < 15_000; i++) {
      if (i === 40) {
        await cluster.runtime.killContainer(cluster.container(leader));
        killedAt = performance.now();
      }
      try {
        await writer.kvPut('secret', `endpoint-drill/${i}`, { n: i });
        acked.push(i);
        if (killedAt && firstAckAfterKill === undefined) firstAckAfterKill = performance.now();
      } catch {
        failed++;
      }
      if (firstAckAfterKill && performance.now() - firstAckAfterKill > 2000) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(killedAt).toBeGreaterThan(0);
    expect(firstAckAfterKill, 'writes resumed through the endpoint').toBeDefined();
    const reader = api(endpoint());
    const lost = [];
    for (const n of acked)
      if ((await reader.kvGet('secret', `endpoint-drill/${n}`))?.data.n !== n) lost.push(n);
    expect(lost).toEqual([]);
    console.log(
      `endpoint under a killed leader: ${acked.length} acknowledged, ${failed} failed, writes resumed after ${((firstAckAfterKill! - killedAt) / 1000).toFixed(2)} s`,
    );
    await cluster.runtime.startContainer(cluster.container(leader));
    await healthy();
  });

  it('the endpoint stopped: health exits 1 and says why; started again: 0', async () => {
    await healthy();
    const name = endpointContainerName(cluster.spec);
    await cluster.runtime.stopContainer(name, 2);
    try {
      const h = await cluster.cli(['health']);
      expect(h.exitCode, h.stdout).toBe(1);
      expect(h.stdout).toContain(`endpoint ${endpoint()} does not answer`);
    } finally {
      await cluster.runtime.startContainer(name);
    }
    await eventually(async () => {
      const h = await cluster.cli(['health']);
      expect(h.exitCode, h.stdout).toBe(0);
    }, 30_000);
  });

  it('env points BAO_ADDR at the endpoint and lists every node', async () => {
    const r = await cluster.cli(['env', '--format', 'json']);
    const vars = JSON.parse(r.stdout) as Record<string, string>;
    expect(vars.BAO_ADDR).toBe(endpoint());
    expect(vars.VAULT_ADDR).toBe(endpoint());
    expect(vars.VAULTCTL_NODE_ADDRS).toBe(cluster.addresses.join(','));
    const one = JSON.parse((await cluster.cli(['env', '--node', 'vault-2', '--format', 'json'])).stdout);
    expect(one.BAO_ADDR).toBe(cluster.address(1));
  });
});

describe('bad input for the endpoint', () => {
  const bad = 'vctl-it-endpoint-bad';
  beforeAll(() => removeClusterResources(bad));
  afterAll(() => removeClusterResources(bad));

  it('its port taken: up refuses before creating anything and names the port', async () => {
    const server = createServer();
    await new Promise<void>((r) => server.listen(18656, '127.0.0.1', r));
    try {
      const r = await runCli(['--cluster', bad, 'up', '--api-port', '18650'], { cwd: cluster.base });
      expect(r.exitCode).toBe(1);
      expect(r.stderr).toContain('port already in use: 127.0.0.1:18656 (endpoint)');
      expect(await clusterResources(bad)).toEqual({ containers: 0, networks: 0, volumes: 0 });
    } finally {
      server.close();
    }
  });

  it('its image missing: up exits 2 with the command that builds it, and leaves nothing', async () => {
    const r = await runCli(['--cluster', bad, 'up', '--api-port', '18650'], {
      cwd: cluster.base,
      env: { VAULTCTL_ENDPOINT_IMAGE: '127.0.0.1:5999/vaultctl/haproxy-missing:0' },
    });
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.stderr).toContain('Error pulling image 127.0.0.1:5999/vaultctl/haproxy-missing:0');
    expect(r.stderr).toContain('vaultctl image build --haproxy');
    expect(await clusterResources(bad)).toEqual({ containers: 0, networks: 0, volumes: 0 });
  });
});
