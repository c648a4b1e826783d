/**
 * The reconciler (src/cluster/reconcile): start orders are plan data (a node waits for the dev
 * KMS's and the unsealer's readiness gates), the executor walks the graph in dependency order, and
 * a failed `up` removes what it created, the unsealer's container and volume included. No Docker.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { applyPlan } from '../../src/cluster/reconcile/apply.js';
import { describeGraphStep, type Observed, planUp } from '../../src/cluster/reconcile/plan.js';
import { RemoteError } from '../../src/errors.js';
import { upCluster } from '../../src/lifecycle/up.js';
import { resolveSpec } from '../../src/spec/resolve.js';
import type { SpecInput } from '../../src/spec/schema.js';
import { StateDir } from '../../src/state/state-dir.js';
import { renderCluster } from '../../src/templates/render.js';
import { everyPortFree, FakeRuntime } from '../helpers/fake-runtime.js';
import { silentProgress } from '../helpers/progress.js';

const nothing: Observed = { containers: [], networks: [], volumes: [], foreignNames: [] };
const input = (seal: Record<string, unknown>): SpecInput => ({
  name: 'vctl-unit-rc',
  apiPortBase: 18970,
  tls: { enabled: false },
  seal,
});

let base: string;
beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'vaultctl-rc-'));
});
afterEach(() => rmSync(base, { recursive: true, force: true }));

describe('the plan graph', () => {
  it('a node is created and started only once the unsealer is ready; the unsealer itself first', () => {
    const spec = resolveSpec(input({ type: 'transit' })).spec;
    const plan = planUp(renderCluster(spec, base), nothing);
    const step = (id: string) => plan.steps.find((s) => s.id === id)!;
    expect(plan.gates.map((g) => g.id)).toContain('ready:vctl-unit-rc-unsealer');
    expect(step('create-container:vctl-unit-rc-vault-1').dependsOn).toEqual([
      'ready:vctl-unit-rc-unsealer',
      'create-network:vctl-unit-rc-net',
      'create-volume:vctl-unit-rc-vault-1-data',
      'create-volume:vctl-unit-rc-vault-1-logs',
    ]);
    expect(step('start-container:vctl-unit-rc-vault-1').dependsOn).toContain('ready:vctl-unit-rc-unsealer');
    expect(step('create-container:vctl-unit-rc-unsealer').dependsOn).not.toContain(
      'ready:vctl-unit-rc-unsealer',
    );
    expect(describeGraphStep(step('start-container:vctl-unit-rc-vault-1'))).toBe(
      'start container vctl-unit-rc-vault-1 (new container); after: create container vctl-unit-rc-vault-1, vctl-unit-rc-unsealer ready',
    );
  });

  it('the executor runs the gate after the gated container started and before any node is created', async () => {
    const spec = resolveSpec(input({ type: 'transit' })).spec;
    const rendered = renderCluster(spec, base);
    const rt = new FakeRuntime(rendered.containers.map((c) => c.image));
    const order: string[] = [];
    rt.onCall = (method, target) => {
      if (/^(create|start)Container$/.test(method)) order.push(`${method} ${target}`);
    };
    await applyPlan(planUp(rendered, nothing), nothing, {
      runtime: rt,
      progress: silentProgress,
      gates: {
        unsealer: async (g) => {
          order.push(`gate ${g.target}`);
          return undefined;
        },
      },
    });
    const gateAt = order.indexOf('gate vctl-unit-rc-unsealer');
    expect(order.indexOf('startContainer vctl-unit-rc-unsealer')).toBeLessThan(gateAt);
    expect(order.indexOf('createContainer vctl-unit-rc-vault-1')).toBeGreaterThan(gateAt);
  });
});

describe('up rolls the unsealer back too', () => {
  it("a failed up removes the unsealer's container, its volume and the network it created", async () => {
    const spec = resolveSpec(input({ type: 'transit' })).spec;
    const rt = new FakeRuntime([spec.image]);
    const err = await upCluster(spec, StateDir.forCluster(base, spec.name), {
      runtime: rt,
      progress: silentProgress,
      connect: () => {
        throw new RemoteError('reaching the unsealer', 'it never answered');
      },
      portIsFree: everyPortFree,
    }).catch((e) => e);
    expect(err.message).toContain('it never answered');
    expect(rt.calls).toContain('createContainer vctl-unit-rc-unsealer');
    expect(rt.calls).toContain('createVolume vctl-unit-rc-unsealer-data');
    expect(rt.calls.filter((c) => c.startsWith('createContainer vctl-unit-rc-vault'))).toEqual([]);
    expect(rt.containers.size).toBe(0);
    expect(rt.volumes.size).toBe(0);
    expect(rt.networks.size).toBe(0);
  });
});
