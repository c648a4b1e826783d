import { describe, expect, it } from 'vitest';
import { describeStep, type Observed, planUp } from '../../src/cluster/reconcile/plan.js';
import type { ContainerInfo, ContainerSpec, ContainerState } from '../../src/runtime/port.js';
import { LABELS } from '../../src/runtime/port.js';
import { resolveSpec } from '../../src/spec/resolve.js';
import type { SpecInput } from '../../src/spec/schema.js';
import { renderCluster } from '../../src/templates/render.js';
import type { RenderedCluster } from '../../src/templates/rendered.js';

const OUT_DIR = '/state/alphapulse';

function render(input: SpecInput = {}): RenderedCluster {
  return renderCluster(resolveSpec(input).spec, OUT_DIR);
}

/** What the runtime reports for a container created from `c`. */
function observedContainer(c: ContainerSpec, state: ContainerState = 'running'): ContainerInfo {
  return { id: `id-${c.name}`, name: c.name, image: c.image, state, labels: { ...c.labels } };
}

/** Everything of `r` exists; containers in the given states (running by default). */
function everything(r: RenderedCluster, states: Record<string, ContainerState> = {}): Observed {
  return {
    containers: r.containers.map((c) => observedContainer(c, states[c.name])),
    networks: [{ name: r.network.name, labels: { ...r.network.labels } }],
    volumes: r.volumes.map((v) => ({ name: v.name, labels: { ...v.labels } })),
    foreignNames: [],
  };
}

const nothing: Observed = { containers: [], networks: [], volumes: [], foreignNames: [] };

describe('planUp', () => {
  it('creates the network, six volumes, three nodes and the endpoint when nothing exists', () => {
    const r = render();
    const { steps, orphans } = planUp(r, nothing);
    expect(orphans).toEqual([]);
    expect(steps.map((s) => `${s.action} ${s.target}`)).toEqual([
      'create-network alphapulse-net',
      'create-volume alphapulse-vault-1-data',
      'create-volume alphapulse-vault-1-logs',
      'create-volume alphapulse-vault-2-data',
      'create-volume alphapulse-vault-2-logs',
      'create-volume alphapulse-vault-3-data',
      'create-volume alphapulse-vault-3-logs',
      'create-container alphapulse-vault-1',
      'start-container alphapulse-vault-1',
      'create-container alphapulse-vault-2',
      'start-container alphapulse-vault-2',
      'create-container alphapulse-vault-3',
      'start-container alphapulse-vault-3',
      'create-container alphapulse-endpoint',
      'start-container alphapulse-endpoint',
    ]);
  });

  it('creates resources with their labels and containers from the rendered specs', () => {
    const r = render();
    const { steps } = planUp(r, nothing);
    expect(steps[0]!.labels).toEqual({ [LABELS.cluster]: 'alphapulse' });
    expect(steps.find((s) => s.target === 'alphapulse-vault-2-logs')!.labels).toMatchObject({
      [LABELS.node]: 'vault-2',
      [LABELS.kind]: 'logs',
    });
    const creates = steps.filter((s) => s.action === 'create-container');
    expect(creates.map((s) => s.container)).toEqual(r.containers);
  });

  it('plans nothing when everything exists, runs, and has the same configuration', () => {
    const r = render();
    const plan = planUp(r, everything(r));
    expect(plan.steps).toEqual([]);
    expect(plan.orphans).toEqual([]);
  });

  it('treats a restarting container as fine', () => {
    const r = render();
    expect(planUp(r, everything(r, { 'alphapulse-vault-1': 'restarting' })).steps).toEqual([]);
  });

  it('only starts an exited container', () => {
    const r = render();
    const { steps } = planUp(r, everything(r, { 'alphapulse-vault-2': 'exited' }));
    expect(steps).toMatchObject([
      { action: 'start-container', target: 'alphapulse-vault-2', reason: 'state is exited' },
    ]);
  });

  it('starts a created (never started) container', () => {
    const r = render();
    const { steps } = planUp(r, everything(r, { 'alphapulse-vault-3': 'created' }));
    expect(steps.map((s) => `${s.action} ${s.target}`)).toEqual(['start-container alphapulse-vault-3']);
  });

  it('unpauses a paused container', () => {
    const r = render();
    const { steps } = planUp(r, everything(r, { 'alphapulse-vault-1': 'paused' }));
    expect(steps).toMatchObject([
      { action: 'unpause-container', target: 'alphapulse-vault-1', reason: 'paused' },
    ]);
  });

  it('recreates every container when the image changes, saying so, and keeps the volumes', () => {
    const before = render();
    const after = render({ image: 'openbao/openbao:9.9.9' });
    const { steps } = planUp(after, everything(before));
    expect(steps.map((s) => `${s.action} ${s.target}`)).toEqual(
      ['alphapulse-vault-1', 'alphapulse-vault-2', 'alphapulse-vault-3'].flatMap((n) => [
        `remove-container ${n}`,
        `create-container ${n}`,
        `start-container ${n}`,
      ]),
    );
    expect(steps[0]!.reason).toBe(
      'image changed (openbao/openbao:2.7.2 -> openbao/openbao:9.9.9); volumes are kept',
    );
    expect(steps[1]!.reason).toContain('image changed');
    expect(steps[1]!.container!.image).toBe('openbao/openbao:9.9.9');
    expect(steps.some((s) => s.action === 'create-volume' || s.action === 'create-network')).toBe(false);
  });

  it('recreates a container whose configuration changed with the same image', () => {
    const before = render();
    const after = render({ raft: { performanceMultiplier: 2 } });
    const { steps } = planUp(after, everything(before));
    expect(steps).toHaveLength(9);
    expect(steps[0]).toMatchObject({
      action: 'remove-container',
      target: 'alphapulse-vault-1',
      reason: 'configuration changed; volumes are kept',
    });
    expect(steps[1]).toMatchObject({ action: 'create-container', reason: 'configuration changed' });
    expect(steps[2]).toMatchObject({ action: 'start-container', reason: 'recreated' });
  });

  it('recreates only the container whose config-hash label differs', () => {
    const r = render();
    const observed = everything(r);
    const tampered: Observed = {
      ...observed,
      containers: observed.containers.map((c) =>
        c.name === 'alphapulse-vault-2' ? { ...c, labels: { ...c.labels, [LABELS.configHash]: 'stale' } } : c,
      ),
    };
    const { steps } = planUp(r, tampered);
    expect(steps.map((s) => `${s.action} ${s.target}`)).toEqual([
      'remove-container alphapulse-vault-2',
      'create-container alphapulse-vault-2',
      'start-container alphapulse-vault-2',
    ]);
  });

  it('recreates rather than starts an exited container with an old configuration', () => {
    const before = render();
    const after = render({ logLevel: 'debug' });
    const { steps } = planUp(after, everything(before, { 'alphapulse-vault-1': 'exited' }));
    expect(steps.filter((s) => s.target === 'alphapulse-vault-1').map((s) => s.action)).toEqual([
      'remove-container',
      'create-container',
      'start-container',
    ]);
  });

  it('creates only a missing volume and a missing container', () => {
    const r = render();
    const all = everything(r);
    const observed: Observed = {
      ...all,
      volumes: all.volumes.filter((v) => v.name !== 'alphapulse-vault-3-data'),
      containers: all.containers.filter((c) => c.name !== 'alphapulse-vault-3'),
    };
    expect(planUp(r, observed).steps.map((s) => `${s.action} ${s.target}`)).toEqual([
      'create-volume alphapulse-vault-3-data',
      'create-container alphapulse-vault-3',
      'start-container alphapulse-vault-3',
    ]);
  });

  it('reports a labelled container the spec no longer has as an orphan and leaves it alone', () => {
    const three = render();
    // vault-4 and vault-5 are left over from an earlier 5-node spec of the same cluster.
    const leftovers = render({ nodeCount: 5 }).containers.slice(3);
    const observed = everything(three);
    const { steps, orphans } = planUp(three, {
      ...observed,
      containers: [...observed.containers, ...leftovers.map((c) => observedContainer(c, 'exited'))],
    });
    expect(orphans).toEqual(['alphapulse-vault-4', 'alphapulse-vault-5']);
    expect(steps).toEqual([]);
    expect(steps.some((s) => s.target.includes('vault-4') || s.target.includes('vault-5'))).toBe(false);
  });

  it('describes a step for the user', () => {
    const { steps } = planUp(render(), nothing);
    expect(describeStep(steps[0]!)).toBe('create network alphapulse-net (missing)');
    expect(describeStep(steps[7]!)).toBe('create container alphapulse-vault-1 (missing)');
  });
});

describe('planUp with monitoring', () => {
  it('turning monitoring on adds only the Prometheus container; turning it off leaves it as an orphan', () => {
    const without = render();
    const withProm = render({ monitoring: { enabled: true } });
    const on = planUp(withProm, everything(without));
    expect(on.steps.map((s) => `${s.action} ${s.target}`)).toEqual([
      'create-container alphapulse-prometheus',
      'start-container alphapulse-prometheus',
    ]);
    const off = planUp(without, everything(withProm));
    expect(off.steps).toEqual([]);
    expect(off.orphans).toEqual(['alphapulse-prometheus']);
  });

  it('a changed rule setting recreates Prometheus alone; the nodes are untouched', () => {
    const before = render({ monitoring: { enabled: true } });
    const after = render({ monitoring: { enabled: true, highLatencyMs: 250 } });
    expect(planUp(after, everything(before)).steps.map((s) => `${s.action} ${s.target}`)).toEqual([
      'remove-container alphapulse-prometheus',
      'create-container alphapulse-prometheus',
      'start-container alphapulse-prometheus',
    ]);
  });
});
