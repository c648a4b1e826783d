import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { loadSpec, mergeLayers, type SpecSources, specFromEnv, specToInput } from '../../src/spec/load.js';
import { resolveSpec } from '../../src/spec/resolve.js';
import { PINNED } from '../../src/spec/schema.js';

/** Runs fn, expects a ConfigError, returns it. */
function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError, nothing was thrown');
}

function problemPaths(input: unknown): string[] {
  return configError(() => resolveSpec(input)).problems.map((p) => p.path);
}

describe('resolveSpec defaults', () => {
  const { spec, warnings } = resolveSpec({});

  it('names the cluster alphapulse with three nodes on 8200/8202/8204, bound to loopback', () => {
    expect(spec.name).toBe('alphapulse');
    expect(spec.nodes).toEqual([
      { name: 'vault-1', apiPort: 8200 },
      { name: 'vault-2', apiPort: 8202 },
      { name: 'vault-3', apiPort: 8204 },
    ]);
    expect(spec.bindAddress).toBe('127.0.0.1');
    expect(warnings).toEqual([]);
  });

  it('uses OpenBao with the static seal and the pinned image', () => {
    expect(spec.flavor).toBe('openbao');
    expect(spec.seal.type).toBe('static');
    expect(spec.image).toBe(`openbao/openbao:${PINNED.openbao}`);
  });

  it('uses performance multiplier 1 and the node count as autopilot min quorum', () => {
    expect(spec.raft.performanceMultiplier).toBe(1);
    expect(spec.raft.autopilot.minQuorum).toBe(3);
    expect(resolveSpec({ nodeCount: 5 }).spec.raft.autopilot.minQuorum).toBe(5);
  });

  it('undefined or null input means all defaults', () => {
    expect(resolveSpec(undefined).spec).toEqual(spec);
    expect(resolveSpec(null).spec).toEqual(spec);
  });

  it('flavor vault defaults to the shamir seal and the pinned Vault image', () => {
    const vault = resolveSpec({ flavor: 'vault' }).spec;
    expect(vault.seal.type).toBe('shamir');
    expect(vault.image).toBe(`hashicorp/vault:${PINNED.vault}`);
  });

  it('an explicit image wins over the flavor default', () => {
    expect(resolveSpec({ image: 'local/bao:dev' }).spec.image).toBe('local/bao:dev');
  });

  it('apiPortBase shifts every node port by two', () => {
    expect(resolveSpec({ apiPortBase: 9000, nodeCount: 5 }).spec.nodes.map((n) => n.apiPort)).toEqual([
      9000, 9002, 9004, 9006, 9008,
    ]);
  });

  it('an explicit node list is kept as given', () => {
    const nodes = [
      { name: 'a1', apiPort: 9100 },
      { name: 'b2', apiPort: 9200 },
      { name: 'c3', apiPort: 9300 },
    ];
    expect(resolveSpec({ nodes }).spec.nodes).toEqual(nodes);
  });
});

describe('resolveSpec warnings', () => {
  it('warns when the API is published beyond loopback', () => {
    const { warnings } = resolveSpec({ bindAddress: '0.0.0.0' });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('0.0.0.0');
    expect(warnings[0]).toContain('plain HTTP');
  });

  it('warns about a slow raft performance multiplier', () => {
    const { warnings } = resolveSpec({ raft: { performanceMultiplier: 5 } });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('performanceMultiplier is 5');
  });

  it('warns about unauthenticated metrics', () => {
    const { warnings } = resolveSpec({ telemetry: { unauthenticatedMetricsAccess: true } });
    expect(warnings.join('\n')).toContain('unauthenticatedMetricsAccess');
  });
});

describe('mergeLayers', () => {
  it('merges objects deeply, later layers win', () => {
    expect(
      mergeLayers(
        { name: 'a', raft: { performanceMultiplier: 2, autopilot: { minQuorum: 3 } } },
        { raft: { autopilot: { minQuorum: 5 } } },
      ),
    ).toEqual({ name: 'a', raft: { performanceMultiplier: 2, autopilot: { minQuorum: 5 } } });
  });

  it('replaces arrays instead of merging them', () => {
    expect(mergeLayers({ seal: { pgpKeys: ['a', 'b', 'c'] } }, { seal: { pgpKeys: ['d'] } })).toEqual({
      seal: { pgpKeys: ['d'] },
    });
  });

  it('skips undefined values and undefined layers', () => {
    expect(mergeLayers({ name: 'a', ui: false }, undefined, { name: undefined, ui: undefined })).toEqual({
      name: 'a',
      ui: false,
    });
  });

  it('replaces an object with a scalar and a scalar with an object', () => {
    expect(mergeLayers({ seal: { type: 'static' } }, { seal: 'x' })).toEqual({ seal: 'x' });
    expect(mergeLayers({ seal: 'x' }, { seal: { type: 'static' } })).toEqual({ seal: { type: 'static' } });
  });

  it('does not modify its inputs', () => {
    const a = { raft: { performanceMultiplier: 1 } };
    mergeLayers(a, { raft: { performanceMultiplier: 3 } });
    expect(a).toEqual({ raft: { performanceMultiplier: 1 } });
  });
});

describe('specFromEnv', () => {
  it('maps VAULTCTL_NODES=5 to the number nodeCount 5', () => {
    expect(specFromEnv({ VAULTCTL_NODES: '5' })).toEqual({ nodeCount: 5 });
  });

  it('maps every variable to its field, nested where needed', () => {
    expect(
      specFromEnv({
        VAULTCTL_CLUSTER: 'beta',
        VAULTCTL_FLAVOR: 'vault',
        VAULTCTL_IMAGE: 'img:1',
        VAULTCTL_SEAL: 'shamir',
        VAULTCTL_API_PORT: '9000',
        VAULTCTL_BIND_ADDRESS: '127.0.0.2',
        UNRELATED: 'x',
      }),
    ).toEqual({
      name: 'beta',
      flavor: 'vault',
      image: 'img:1',
      seal: { type: 'shamir' },
      apiPortBase: 9000,
      bindAddress: '127.0.0.2',
    });
  });

  it('ignores empty variables', () => {
    expect(specFromEnv({ VAULTCTL_NODES: '', VAULTCTL_FLAVOR: '' })).toEqual({});
  });

  it('keeps a non-numeric count as a string, so validation reports it', () => {
    expect(specFromEnv({ VAULTCTL_NODES: 'five' })).toEqual({ nodeCount: 'five' });
    expect(problemPaths(specFromEnv({ VAULTCTL_NODES: 'five' }))).toEqual(['nodeCount']);
  });
});

describe('loadSpec', () => {
  const dirs: string[] = [];
  function tempDir(): string {
    const d = mkdtempSync(join(tmpdir(), 'vaultctl-spec-'));
    dirs.push(d);
    return d;
  }
  function yamlFile(text: string): string {
    const path = join(tempDir(), 'vaultctl.yaml');
    writeFileSync(path, text);
    return path;
  }
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  /** A cwd without vaultctl.yaml, so no implicit file is read. */
  function sources(over: Partial<SpecSources>): SpecSources {
    return { env: {}, flags: {}, cwd: tempDir(), ...over };
  }

  it('gives the defaults when no source says anything', () => {
    const result = loadSpec(sources({}));
    expect(result.spec).toEqual(resolveSpec({}).spec);
    expect(result.configFile).toBeUndefined();
  });

  describe('precedence: defaults < saved < file < env < flags', () => {
    const saved = { image: 'saved/bao:1', logLevel: 'debug', ui: false };
    const fileText = 'image: file/bao:1\nlogLevel: warn\n';
    const env = { VAULTCTL_IMAGE: 'env/bao:1' };
    const flags = { image: 'flag/bao:1' };

    it('flags win over everything', () => {
      const { spec } = loadSpec(
        sources({ configPath: yamlFile(fileText), env, flags, readSaved: () => ({ ...saved }) }),
      );
      expect(spec.image).toBe('flag/bao:1');
      // Fields set only by lower layers survive.
      expect(spec.logLevel).toBe('warn');
      expect(spec.ui).toBe(false);
    });

    it('env wins over the file and the saved spec', () => {
      const { spec } = loadSpec(sources({ configPath: yamlFile(fileText), env, readSaved: () => saved }));
      expect(spec.image).toBe('env/bao:1');
    });

    it('the file wins over the saved spec', () => {
      const { spec } = loadSpec(sources({ configPath: yamlFile(fileText), readSaved: () => saved }));
      expect(spec.image).toBe('file/bao:1');
      expect(spec.logLevel).toBe('warn');
      expect(spec.ui).toBe(false);
    });

    it('the saved spec wins over the defaults', () => {
      const { spec } = loadSpec(sources({ readSaved: () => saved }));
      expect(spec.image).toBe('saved/bao:1');
      expect(spec.logLevel).toBe('debug');
      expect(spec.ui).toBe(false);
    });
  });

  it('asks for the saved spec of the cluster named by the upper layers', () => {
    const readSaved = vi.fn(() => undefined);
    loadSpec(sources({ configPath: yamlFile('name: beta\n'), readSaved }));
    expect(readSaved).toHaveBeenCalledWith('beta');
    readSaved.mockClear();
    loadSpec(sources({ env: { VAULTCTL_CLUSTER: 'gamma' }, readSaved }));
    expect(readSaved).toHaveBeenCalledWith('gamma');
    readSaved.mockClear();
    loadSpec(sources({ readSaved }));
    expect(readSaved).toHaveBeenCalledWith('alphapulse');
  });

  it('does not look up a saved spec for an invalid cluster name, and reports the name', () => {
    const readSaved = vi.fn(() => undefined);
    const err = configError(() => loadSpec(sources({ flags: { name: '../etc' }, readSaved })));
    expect(readSaved).not.toHaveBeenCalled();
    expect(err.problems.map((p) => p.path)).toEqual(['name']);
  });

  it('reads ./vaultctl.yaml from cwd when no path is given, and reports it', () => {
    const path = yamlFile('nodeCount: 5\n');
    const cwd = path.slice(0, -'/vaultctl.yaml'.length);
    const result = loadSpec({ env: {}, flags: {}, cwd });
    expect(result.spec.nodes).toHaveLength(5);
    expect(result.configFile).toBe(path);
  });

  it('takes the file from VAULTCTL_CONFIG, and --config over it', () => {
    const fromEnv = yamlFile('logLevel: warn\n');
    const fromFlag = yamlFile('logLevel: error\n');
    expect(loadSpec(sources({ env: { VAULTCTL_CONFIG: fromEnv } })).spec.logLevel).toBe('warn');
    const result = loadSpec(sources({ configPath: fromFlag, env: { VAULTCTL_CONFIG: fromEnv } }));
    expect(result.spec.logLevel).toBe('error');
    expect(result.configFile).toBe(fromFlag);
  });

  it('an empty YAML file means no settings', () => {
    expect(loadSpec(sources({ configPath: yamlFile('') })).spec).toEqual(resolveSpec({}).spec);
  });

  it('refuses malformed YAML with a ConfigError naming the file', () => {
    const path = yamlFile('nodeCount: [3\nflavor: openbao\n');
    const err = configError(() => loadSpec(sources({ configPath: path })));
    expect(err.problems[0]!.path).toBe(path);
    expect(err.problems[0]!.message).toContain('not valid YAML');
    expect(err.render()).toContain(path);
  });

  it('refuses a YAML file whose top level is not a mapping', () => {
    const path = yamlFile('- a\n- b\n');
    const err = configError(() => loadSpec(sources({ configPath: path })));
    expect(err.render()).toContain(path);
    expect(err.problems[0]!.message).toContain('mapping');
  });

  it('refuses a missing --config file, naming it', () => {
    const path = join(tempDir(), 'nope.yaml');
    const err = configError(() => loadSpec(sources({ configPath: path })));
    expect(err.problems[0]!.path).toBe(path);
  });

  it('reports a schema problem in the file with its dotted path', () => {
    const err = configError(() => loadSpec(sources({ configPath: yamlFile('seal:\n  type: file\n') })));
    expect(err.problems.map((p) => p.path)).toEqual(['seal.type']);
  });

  describe('the node list of a saved spec', () => {
    const savedNodes = [
      { name: 'a1', apiPort: 9100 },
      { name: 'b2', apiPort: 9200 },
      { name: 'c3', apiPort: 9300 },
    ];

    it('is kept when neither nodeCount nor apiPortBase is given', () => {
      const { spec } = loadSpec(sources({ readSaved: () => ({ nodes: savedNodes }) }));
      expect(spec.nodes).toEqual(savedNodes);
    });

    it('is dropped when nodeCount is given', () => {
      const { spec } = loadSpec(
        sources({
          env: { VAULTCTL_NODES: '5' },
          readSaved: () => ({ nodes: savedNodes, logLevel: 'debug' }),
        }),
      );
      expect(spec.nodes.map((n) => n.name)).toEqual(['vault-1', 'vault-2', 'vault-3', 'vault-4', 'vault-5']);
      // The rest of the saved spec still applies.
      expect(spec.logLevel).toBe('debug');
    });

    it('is dropped when apiPortBase is given', () => {
      const { spec } = loadSpec(
        sources({ flags: { apiPortBase: 9500 }, readSaved: () => ({ nodes: savedNodes }) }),
      );
      expect(spec.nodes).toEqual([
        { name: 'vault-1', apiPort: 9500 },
        { name: 'vault-2', apiPort: 9502 },
        { name: 'vault-3', apiPort: 9504 },
      ]);
    });
  });

  it('round-trips a resolved spec through specToInput as the saved layer', () => {
    const original = resolveSpec({ nodeCount: 5, raft: { performanceMultiplier: 2 } }).spec;
    const saved = JSON.parse(JSON.stringify(specToInput(original))) as Record<string, unknown>;
    expect(saved.image).toBeUndefined();
    expect(loadSpec(sources({ readSaved: () => saved })).spec).toEqual(original);
  });

  // The saved spec must not carry the *derived* raft.autopilot.minQuorum (the old node count):
  // a node count given now would be refused (5 > 3) or keep a stale quorum (3 of 5).
  it('scales a saved 5-node cluster down to 3: min quorum follows the node count', () => {
    const saved = JSON.parse(JSON.stringify(specToInput(resolveSpec({ nodeCount: 5 }).spec)));
    const { spec } = loadSpec(sources({ flags: { nodeCount: 3 }, readSaved: () => saved }));
    expect(spec.raft.autopilot.minQuorum).toBe(3);
  });

  it('scales a saved 3-node cluster up to 5 with min quorum 5', () => {
    const saved = JSON.parse(JSON.stringify(specToInput(resolveSpec({}).spec)));
    const { spec } = loadSpec(sources({ flags: { nodeCount: 5 }, readSaved: () => saved }));
    expect(spec.raft.autopilot.minQuorum).toBe(5);
  });

  it('specToInput remembers an image the user chose', () => {
    const spec = resolveSpec({ image: 'local/bao:dev' }).spec;
    expect(specToInput(spec).image).toBe('local/bao:dev');
  });
});

describe('pinned versions', () => {
  it('config/versions.env pins the same OpenBao version as PINNED.openbao', () => {
    const text = readFileSync(new URL('../../config/versions.env', import.meta.url), 'utf8');
    const m = /^OPENBAO_CLI_VERSION=(\S+)$/m.exec(text);
    expect(m?.[1]).toBe(PINNED.openbao);
    expect(/^OPENBAO_PREVIOUS_VERSION=(\S+)$/m.exec(text)?.[1]).toBe(PINNED.openbaoPrevious);
  });
});

describe('server version', () => {
  it('defaults to the pinned image and reads its version', () => {
    const { spec } = resolveSpec({});
    expect(spec.image).toBe(`openbao/openbao:${PINNED.openbao}`);
    expect(spec.serverVersion).toBe(PINNED.openbao);
  });

  it('version picks the upstream image of that version', () => {
    const { spec } = resolveSpec({ version: '2.6.2' });
    expect(spec.image).toBe('openbao/openbao:2.6.2');
    expect(spec.serverVersion).toBe('2.6.2');
  });

  it('reads the version from an image tag, with or without a v, and not from a registry port', () => {
    expect(resolveSpec({ image: 'vaultctl/openbao:2.6.2' }).spec.serverVersion).toBe('2.6.2');
    expect(resolveSpec({ image: 'reg:5000/bao:v2.7.2' }).spec.serverVersion).toBe('2.7.2');
    expect(resolveSpec({ image: 'reg:5000/bao' }).spec.serverVersion).toBeUndefined();
    expect(resolveSpec({ image: 'local/bao:dev' }).spec.serverVersion).toBeUndefined();
  });

  it('refuses a version that disagrees with the image, and a malformed one', () => {
    const disagree = configError(() => resolveSpec({ image: 'vaultctl/openbao:2.7.2', version: '2.6.2' }));
    expect(disagree.problems).toEqual([
      {
        path: 'version',
        message:
          'version 2.6.2 and image vaultctl/openbao:2.7.2 disagree (its tag says 2.7.2): give one of them',
      },
    ]);
    const malformed = configError(() => resolveSpec({ version: 'latest' }));
    expect(malformed.problems[0]?.message).toContain('expected a server version such as 2.6.2');
    expect(resolveSpec({ image: 'vaultctl/openbao:2.6.2', version: '2.6.2' }).spec.image).toBe(
      'vaultctl/openbao:2.6.2',
    );
  });

  it('VAULTCTL_SERVER_VERSION sets it', () => {
    expect(specFromEnv({ VAULTCTL_SERVER_VERSION: '2.6.2' })).toMatchObject({ version: '2.6.2' });
  });
});

describe('config/vaultctl.example.yaml', () => {
  it('parses and documents exactly the defaults', async () => {
    const { readFileSync } = await import('node:fs');
    const { parse } = await import('yaml');
    const example = parse(
      readFileSync(new URL('../../config/vaultctl.example.yaml', import.meta.url), 'utf8'),
    );
    const { input: _a, ...fromExample } = resolveSpec(example).spec;
    const { input: _b, ...defaults } = resolveSpec({}).spec;
    expect(fromExample).toEqual(defaults);
  });
});
