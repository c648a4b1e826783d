/**
 * `vaultctl down ... | head -3` (issue 26 item 10): the reader of the pipe goes away after three
 * lines while `down` is still removing things. A closed stdout or stderr must not stop a
 * destructive operation halfway: every volume, the network and the state dir are gone, exit 0.
 * The "cluster" is only labelled volumes and a network (no image, no container): what `down` finds
 * by label is what it removes.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LABELS } from '../../src/runtime/port.js';
import { clusterResources, docker, removeClusterResources } from '../helpers/cluster.js';
import { CLI } from '../helpers/paths.js';

const NAME = 'vctl-fl-epipe';
const work = mkdtempSync(join(tmpdir(), 'vaultctl-e2e-epipe-'));

beforeAll(async () => {
  await removeClusterResources(NAME);
});
afterAll(async () => {
  await removeClusterResources(NAME);
  rmSync(work, { recursive: true, force: true });
});

describe('down with its output piped into head', () => {
  it('removes everything it found, though the reader left after three lines', async () => {
    const labels = { [LABELS.cluster]: NAME, [LABELS.kind]: 'data' };
    for (let i = 1; i <= 12; i++) await docker.createVolume({ Name: `${NAME}-data-${i}`, Labels: labels });
    await docker.createNetwork({ Name: `${NAME}-net`, Labels: { [LABELS.cluster]: NAME } });
    const state = join(work, 'state', NAME);
    mkdirSync(state, { recursive: true, mode: 0o700 });
    writeFileSync(join(state, 'cluster.json'), '{}', { mode: 0o600 });
    expect(await clusterResources(NAME)).toEqual({ containers: 0, networks: 1, volumes: 12 });

    // A line of progress per volume: far more than head reads.
    const status = execFileSync(
      'bash',
      [
        '-c',
        `node "$0" --cluster ${NAME} --state-dir "$1" down --volumes --purge --yes 2>&1 | head -3 >/dev/null; echo "\${PIPESTATUS[0]}"`,
        CLI,
        join(work, 'state'),
      ],
      { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', CI: 'true' } },
    );
    expect(await clusterResources(NAME)).toEqual({ containers: 0, networks: 0, volumes: 0 });
    expect(existsSync(state)).toBe(false);
    expect(status.trim()).toBe('0');
  });
});
