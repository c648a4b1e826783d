import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import { COMPOSE_FILE } from '../../src/spec/names.js';
import { resolveSpec } from '../../src/spec/resolve.js';
import { type InitMaterial, StateDir } from '../../src/state/state-dir.js';
import { renderCluster } from '../../src/templates/render.js';

const modeOf = (path: string) => statSync(path).mode & 0o777;

function usageError(fn: () => unknown): UsageError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return err as UsageError;
  }
  throw new Error('expected a UsageError, nothing was thrown');
}

const material: InitMaterial = {
  version: 1,
  createdAt: '2025-01-01T00:00:00.000Z',
  cluster: 'alphapulse',
  sealType: 'static',
  keyKind: 'recovery',
  shares: 5,
  threshold: 3,
  keys: ['a', 'b', 'c', 'd', 'e'],
  pgp: false,
  rootToken: 's.root',
};

let base: string;
let state: StateDir;

beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'vaultctl-state-'));
  state = StateDir.forCluster(join(base, '.vaultctl'), 'alphapulse');
});

afterEach(() => {
  rmSync(base, { recursive: true, force: true });
});

describe('StateDir.ensure', () => {
  it('creates the dir (and .vaultctl) with mode 0700, once', () => {
    expect(state.exists()).toBe(false);
    expect(state.ensure()).toBe(true);
    expect(state.root).toBe(join(base, '.vaultctl', 'alphapulse'));
    expect(modeOf(state.root)).toBe(0o700);
    expect(modeOf(join(base, '.vaultctl'))).toBe(0o700);
    expect(state.ensure()).toBe(false);
  });

  it('tightens an existing 0755 dir to 0700', () => {
    mkdirSync(state.root, { recursive: true, mode: 0o700 });
    chmodSync(state.root, 0o755);
    // ensure() chmods the dir itself before it checks, so the open dir becomes 0700.
    expect(state.ensure()).toBe(false);
    expect(modeOf(state.root)).toBe(0o700);
  });
});

describe('StateDir.writeFileAtomic', () => {
  beforeEach(() => {
    state.ensure();
  });

  it('writes the content with mode 0600 and leaves no temp file', () => {
    const path = join(state.root, 'approle.json');
    state.writeFileAtomic(path, '{"x":1}\n');
    expect(readFileSync(path, 'utf8')).toBe('{"x":1}\n');
    expect(modeOf(path)).toBe(0o600);
    expect(readdirSync(state.root)).toEqual(['approle.json']);
  });

  it('replaces a file that is not exclusive', () => {
    const path = join(state.root, 'cluster.json');
    state.writeFileAtomic(path, 'one');
    state.writeFileAtomic(path, Buffer.from('two'));
    expect(readFileSync(path, 'utf8')).toBe('two');
    expect(readdirSync(state.root)).toEqual(['cluster.json']);
  });

  it('creates missing parent directories', () => {
    const path = join(state.root, 'nodes', 'vault-1', 'x.txt');
    state.writeFileAtomic(path, 'x');
    expect(readFileSync(path, 'utf8')).toBe('x');
  });

  it('refuses to overwrite in exclusive mode and keeps the old content', () => {
    const path = join(state.root, 'init.json');
    state.writeFileAtomic(path, 'old', { exclusive: true });
    const err = usageError(() => state.writeFileAtomic(path, 'new', { exclusive: true }));
    expect(err.exitCode).toBe(1);
    expect(err.message).toContain('already exists');
    expect(err.hint).toContain('never overwrites keys');
    expect(readFileSync(path, 'utf8')).toBe('old');
    expect(readdirSync(state.root)).toEqual(['init.json']);
  });
});

describe('StateDir.ensureSealKey', () => {
  beforeEach(() => {
    state.ensure();
  });

  it('creates a 32-byte 0600 key once and keeps it', () => {
    expect(state.ensureSealKey()).toBe(true);
    const key = readFileSync(state.sealKeyFile);
    expect(key).toHaveLength(32);
    expect(modeOf(state.sealKeyFile)).toBe(0o600);
    expect(state.ensureSealKey()).toBe(false);
    expect(readFileSync(state.sealKeyFile).equals(key)).toBe(true);
  });

  it('gives different keys to different clusters', () => {
    const other = StateDir.forCluster(join(base, '.vaultctl'), 'beta');
    other.ensure();
    state.ensureSealKey();
    other.ensureSealKey();
    expect(readFileSync(state.sealKeyFile).equals(readFileSync(other.sealKeyFile))).toBe(false);
  });

  it('refuses a key of the wrong size and leaves it alone', () => {
    writeFileSync(state.sealKeyFile, Buffer.alloc(16, 1), { mode: 0o600 });
    const err = usageError(() => state.ensureSealKey());
    expect(err.message).toBe('expected 32 bytes, found 16');
    expect(readFileSync(state.sealKeyFile)).toEqual(Buffer.alloc(16, 1));
  });
});

describe('StateDir.checkPermissions', () => {
  beforeEach(() => {
    state.ensure();
  });

  it('accepts a fresh state dir and a missing one', () => {
    expect(() => state.checkPermissions()).not.toThrow();
    expect(() => new StateDir(join(base, 'absent')).checkPermissions()).not.toThrow();
  });

  it('refuses a 0755 state dir with a chmod 700 hint', () => {
    chmodSync(state.root, 0o755);
    const err = usageError(() => state.checkPermissions());
    expect(err.message).toContain('mode 0755');
    expect(err.hint).toContain(`chmod 700 ${state.root}`);
    expect(err.render()).toContain('hint: run: chmod 700');
  });

  it('refuses a 0644 init.json with a chmod 600 hint', () => {
    state.saveInit(material);
    chmodSync(state.initFile, 0o644);
    const err = usageError(() => state.checkPermissions());
    expect(err.message).toContain('mode 0644');
    expect(err.hint).toContain(`chmod 600 ${state.initFile}`);
  });

  it('refuses a group-readable seal key', () => {
    state.ensureSealKey();
    chmodSync(state.sealKeyFile, 0o640);
    expect(usageError(() => state.checkPermissions()).hint).toContain(`chmod 600 ${state.sealKeyFile}`);
  });
});

describe('init material', () => {
  beforeEach(() => {
    state.ensure();
  });

  it('saves init.json 0600 and reads it back', () => {
    expect(state.readInit()).toBeUndefined();
    state.saveInit(material);
    expect(modeOf(state.initFile)).toBe(0o600);
    expect(state.readInit()).toEqual(material);
  });

  it('refuses to save when init.json exists, keeping the first', () => {
    state.saveInit(material);
    usageError(() => state.saveInit({ ...material, rootToken: 's.other' }));
    expect(state.readInit()!.rootToken).toBe('s.root');
  });

  it('reports an unreadable init.json', () => {
    writeFileSync(state.initFile, '{ not json', { mode: 0o600 });
    expect(usageError(() => state.readInit()).message).toContain('not valid JSON');
  });
});

describe('saved spec', () => {
  it('saves the spec in input form and reads it back', () => {
    state.ensure();
    const spec = resolveSpec({ nodeCount: 5, image: 'local/bao:dev' }).spec;
    state.saveSpec(spec);
    const saved = state.readSavedSpec()!;
    expect(saved.image).toBe('local/bao:dev');
    expect(resolveSpec(saved).spec).toEqual(spec);
  });

  it('reports a corrupt cluster.json with a hint to delete it', () => {
    state.ensure();
    writeFileSync(state.specFile, '{');
    expect(usageError(() => state.readSavedSpec()).hint).toContain('delete the file');
  });
});

describe('StateDir.writeRendered', () => {
  const rendered = renderCluster(resolveSpec({}).spec, '/state/alphapulse');

  beforeEach(() => {
    state.ensure();
  });

  it('writes every file the first time, readable by the container user', () => {
    const changed = state.writeRendered(rendered);
    expect(changed.sort()).toEqual(
      [
        COMPOSE_FILE,
        'nodes/vault-1/node.hcl',
        'nodes/vault-2/node.hcl',
        'nodes/vault-3/node.hcl',
        'endpoint/haproxy.cfg',
      ].sort(),
    );
    for (const f of rendered.files) expect(readFileSync(join(state.root, f.path), 'utf8')).toBe(f.content);
    expect(modeOf(join(state.root, 'nodes/vault-1/node.hcl'))).toBe(0o644);
    expect(modeOf(join(state.root, 'nodes/vault-1'))).toBe(0o755);
    // The state dir itself stays private.
    expect(modeOf(state.root)).toBe(0o700);
    expect(() => state.checkPermissions()).not.toThrow();
  });

  it('reports nothing on a second call with the same files', () => {
    state.writeRendered(rendered);
    expect(state.writeRendered(rendered)).toEqual([]);
  });

  it('reports only the files whose content changed', () => {
    state.writeRendered(rendered);
    const changed = state.writeRendered(
      renderCluster(resolveSpec({ raft: { performanceMultiplier: 2 } }).spec, '/state/alphapulse'),
    );
    expect(changed.sort()).toEqual([
      'nodes/vault-1/node.hcl',
      'nodes/vault-2/node.hcl',
      'nodes/vault-3/node.hcl',
    ]);
  });

  it('rewrites a file that was edited by hand', () => {
    state.writeRendered(rendered);
    writeFileSync(join(state.root, 'nodes/vault-2/node.hcl'), '# edited\n');
    expect(state.writeRendered(rendered)).toEqual(['nodes/vault-2/node.hcl']);
    expect(readFileSync(join(state.root, 'nodes/vault-2/node.hcl'), 'utf8')).toBe(rendered.files[1]!.content);
  });
});
