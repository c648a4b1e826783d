/**
 * seal.awskms.credentialsFile: up refuses a missing file or one other users can read, before
 * anything is created; a 0600 file is bind-mounted into the nodes. Fake runtime, no Docker.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import { upCluster } from '../../src/lifecycle/up.js';
import { resolveSpec } from '../../src/spec/resolve.js';
import { StateDir } from '../../src/state/state-dir.js';
import type { VaultConnector } from '../../src/vault/port.js';
import { everyPortFree, FakeRuntime } from '../helpers/fake-runtime.js';
import { silentProgress } from '../helpers/progress.js';

const noNodes: VaultConnector = ({ address }) => {
  throw new Error(`no node API expected in this test (asked for ${address})`);
};

let base: string;
beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'vaultctl-awscred-'));
});
afterEach(() => rmSync(base, { recursive: true, force: true }));

async function up(credentialsFile: string) {
  const spec = resolveSpec({
    name: 'vctl-unit-awscred',
    version: '2.6.2',
    apiPortBase: 18990,
    tls: { enabled: false },
    endpoint: { enabled: false },
    seal: { type: 'awskms', awskms: { region: 'eu-central-1', kmsKeyId: 'alias/x', credentialsFile } },
  }).spec;
  const rt = new FakeRuntime();
  const err = await upCluster(spec, StateDir.forCluster(base, spec.name), {
    runtime: rt,
    progress: silentProgress,
    connect: noNodes,
    portIsFree: everyPortFree,
  }).catch((e) => e);
  return { err, created: rt.calls.filter((c) => c.startsWith('create')) };
}

describe('seal.awskms.credentialsFile', () => {
  it('a missing file is refused before anything is created', async () => {
    const { err, created } = await up(join(base, 'absent'));
    expect(err).toBeInstanceOf(UsageError);
    expect(err.doing).toBe('checking seal.awskms.credentialsFile');
    expect(err.message).toContain('ENOENT');
    expect(created).toEqual([]);
  });

  it('a file other users can read is refused, with the chmod to run', async () => {
    const file = join(base, 'aws-credentials');
    writeFileSync(file, '[default]\naws_access_key_id = AKIAEXAMPLE\n');
    chmodSync(file, 0o644);
    const { err, created } = await up(file);
    expect(err).toBeInstanceOf(UsageError);
    expect(err.message).toContain('has mode 0644');
    expect(err.hint).toBe(`chmod 600 ${file}`);
    expect(created).toEqual([]);
  });
});
