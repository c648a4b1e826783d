/**
 * `init` without its state dir (issue 26 item 4): the spec then falls back to default ports that
 * may be another cluster's, so init refuses before contacting any node, naming the missing state
 * dir and the cluster's containers found by label.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { requireStateDir } from '../../src/cluster/state-check.js';
import { UsageError } from '../../src/errors.js';
import { resolveSpec } from '../../src/spec/resolve.js';
import { StateDir } from '../../src/state/state-dir.js';
import { FakeRuntime } from '../helpers/fake-runtime.js';

const dir = mkdtempSync(join(tmpdir(), 'vctl-init-target-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const spec = resolveSpec({ name: 'mycluster' }).spec;

async function refusal(rt: FakeRuntime, state: StateDir): Promise<UsageError> {
  const err = await requireStateDir(spec, state, () => rt, 'initialising the cluster').catch(
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(UsageError);
  return err as UsageError;
}

describe('init needs the state dir of the cluster it names', () => {
  it('refuses when the state dir is gone but the cluster runs, naming its containers', async () => {
    const rt = new FakeRuntime(['img']);
    for (const name of ['mycluster-vault-1', 'mycluster-vault-2', 'other-vault-1'])
      await rt.createContainer({
        name,
        image: 'img',
        labels: { 'io.vaultctl.cluster': name.split('-')[0]! },
      } as never);
    const state = StateDir.forCluster(dir, 'mycluster');
    const err = await refusal(rt, state);
    expect(err.render()).toContain(`Error initialising the cluster: the state dir ${state.root} is missing`);
    expect(err.message).toContain('cluster mycluster runs (mycluster-vault-1, mycluster-vault-2)');
    expect(err.hint).toMatch(/nothing was contacted/);
  });

  it('refuses when neither the state dir nor the cluster exists, sending to `vaultctl up`', async () => {
    const err = await refusal(new FakeRuntime(), StateDir.forCluster(dir, 'mycluster'));
    expect(err.message).toContain('no container of cluster mycluster runs');
    expect(err.hint).toMatch(/`vaultctl up` creates the cluster/);
  });

  it('passes when the saved spec is there', async () => {
    const state = StateDir.forCluster(dir, 'saved');
    state.saveSpec(resolveSpec({ name: 'saved' }).spec);
    await expect(requireStateDir(spec, state, () => new FakeRuntime(), 'x')).resolves.toBeUndefined();
  });
});
