/**
 * An existing transit server (seal.transit.address): the nodes' token comes from a file or
 * VAULTCTL_TRANSIT_TOKEN and reaches the node containers only; without one, up refuses before
 * anything is created. Fake runtime, no Docker.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import { upCluster } from '../../src/lifecycle/up.js';
import type { ContainerSpec } from '../../src/runtime/port.js';
import { resolveSpec } from '../../src/spec/resolve.js';
import type { SpecInput } from '../../src/spec/schema.js';
import { StateDir } from '../../src/state/state-dir.js';
import type { VaultConnector } from '../../src/vault/port.js';
import { everyPortFree, FakeRuntime } from '../helpers/fake-runtime.js';
import { silentProgress } from '../helpers/progress.js';

const noNodes: VaultConnector = ({ address }) => {
  throw new Error(`no node API expected in this test (asked for ${address})`);
};
const input = (transit: Record<string, unknown>): SpecInput => ({
  name: 'vctl-unit-transit',
  apiPortBase: 18960,
  tls: { enabled: false },
  endpoint: { enabled: false },
  seal: { type: 'transit', transit: { address: 'https://transit.example.test:8200', ...transit } },
});

let base: string;
beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'vaultctl-transit-'));
});
afterEach(() => {
  rmSync(base, { recursive: true, force: true });
  delete process.env.VAULTCTL_TRANSIT_TOKEN;
});

describe('up with an existing transit server', () => {
  it('refuses without a token for the nodes, before anything is created', async () => {
    const spec = resolveSpec(input({})).spec;
    const rt = new FakeRuntime();
    const err = await upCluster(spec, StateDir.forCluster(base, spec.name), {
      runtime: rt,
      progress: silentProgress,
      connect: noNodes,
      portIsFree: everyPortFree,
    }).catch((e) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect(err.message).toContain('needs a token for the nodes');
    expect(rt.calls.filter((c) => c.startsWith('create'))).toEqual([]);
  });

  it("puts the file's token in the node containers' environment only", async () => {
    const tokenFile = join(base, 'transit-token');
    writeFileSync(tokenFile, 's.external-token-value\n', { mode: 0o600 });
    const spec = resolveSpec(input({ tokenFile })).spec;
    const rt = new FakeRuntime();
    const specs: ContainerSpec[] = [];
    const create = rt.createContainer.bind(rt);
    rt.createContainer = async (c) => {
      specs.push(c);
      await create(c);
    };
    // No node answers in the fake: up fails at the wait, after creating the containers.
    const err = await upCluster(
      spec,
      StateDir.forCluster(base, spec.name),
      { runtime: rt, progress: silentProgress, connect: noNodes, portIsFree: everyPortFree },
      { readyTimeoutMs: 1 },
    ).catch((e) => e);
    expect(String(err)).toContain('no node API expected');
    const created = specs.filter((c) => c.name.startsWith('vctl-unit-transit-vault-'));
    expect(created).toHaveLength(3);
    for (const c of created) {
      expect(c.secretEnv).toEqual({ BAO_TOKEN: 's.external-token-value' });
      expect(JSON.stringify({ ...c, secretEnv: undefined })).not.toContain('external-token-value');
    }
  });
});
