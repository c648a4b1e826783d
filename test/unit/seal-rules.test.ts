import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { resolveSpec } from '../../src/spec/resolve.js';
import { PINNED, type SpecInput } from '../../src/spec/schema.js';
import { sealFindings, serverRules } from '../../src/spec/seal-rules.js';
import { compareVersions } from '../../src/spec/version.js';
import { renderNodeHcl } from '../../src/templates/hcl.js';
import { AWS_CREDENTIALS_TARGET, renderCluster } from '../../src/templates/render.js';

const AWS = { region: 'eu-west-1', kmsKeyId: 'alias/unseal' };
const PLUGIN = {
  binary: '/opt/plugins/openbao-plugin-kms-aws',
  sha256: 'ab'.repeat(32),
};

function refusal(input: SpecInput): ConfigError {
  try {
    resolveSpec(input);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('the spec was accepted');
}

describe('the server rules table', () => {
  it.each([
    ['openbao', '2.6.2', true, true],
    ['openbao', '2.6.0', true, true],
    ['openbao', '2.5.3', true, false],
    ['openbao', '2.7.0', false, true],
    ['openbao', '2.7.2', false, true],
    ['openbao', '3.0.0', false, true],
    ['vault', '1.20.4', true, false],
  ] as const)('%s %s: awskms built in %s, KMS plugins %s', (flavor, version, builtin, plugins) => {
    const r = serverRules(flavor, version);
    expect(r.builtinSeals.includes('awskms')).toBe(builtin);
    expect(r.kmsPlugins).toBe(plugins);
  });

  it('static and transit are built into every OpenBao 2.x; static is OpenBao only', () => {
    for (const v of ['2.5.0', '2.6.2', '2.7.2']) {
      expect(serverRules('openbao', v).builtinSeals).toEqual(expect.arrayContaining(['static', 'transit']));
    }
    expect(serverRules('vault', '1.20.4').builtinSeals).not.toContain('static');
  });

  it('an unknown version is judged as the newest: no built-in cloud KMS seals, plugins loaded', () => {
    const r = serverRules('openbao', undefined);
    expect(r.builtinSeals).not.toContain('awskms');
    expect(r.kmsPlugins).toBe(true);
  });

  it('disable_mlock exists for Vault only; disable_standby_reads for OpenBao >= 2.5', () => {
    expect(serverRules('vault', '1.20.4').fields).toEqual({ disableMlock: true, disableStandbyReads: false });
    expect(serverRules('openbao', '2.7.2').fields).toEqual({
      disableMlock: false,
      disableStandbyReads: true,
    });
    expect(serverRules('openbao', '2.6.2').fields.disableMlock).toBe(false);
    expect(serverRules('openbao', '2.4.1').fields.disableStandbyReads).toBe(false);
  });

  it('compares versions numerically', () => {
    expect(compareVersions('2.10.0', '2.7.2')).toBe(1);
    expect(compareVersions('2.6.2', '2.7.0')).toBe(-1);
    expect(compareVersions('2.7.0', '2.7.0')).toBe(0);
  });

  it('a plugin on a server that loads none is a problem', () => {
    const f = sealFindings(serverRules('vault', '1.20.4'), { type: 'awskms', plugin: true });
    expect(f.map((x) => [x.path, x.severity])).toEqual([['seal.awskms.plugin', 'problem']]);
  });
});

describe('awskms in validation', () => {
  it('OpenBao 2.7.2 without a plugin: refused, with the reason and both ways out', () => {
    const err = refusal({ version: '2.7.2', seal: { type: 'awskms', awskms: AWS } });
    expect(err.problems.map((p) => p.path)).toEqual(['seal.type']);
    const msg = err.problems[0]!.message;
    expect(msg).toContain('OpenBao 2.7 moved the cloud KMS seals');
    expect(msg).toContain('unknown wrapper: awskms');
    expect(msg).toContain('seal.awskms.plugin');
    expect(msg).toContain(`--server-version ${PINNED.openbaoPrevious}`);
  });

  it('the default (pinned) image and a 2.7 image tag are refused the same way', () => {
    expect(refusal({ seal: { type: 'awskms', awskms: AWS } }).problems[0]!.path).toBe('seal.type');
    expect(
      refusal({ image: 'openbao/openbao:2.7.1', seal: { type: 'awskms', awskms: AWS } }).problems[0]!.path,
    ).toBe('seal.type');
  });

  it('OpenBao 2.6.2 (flag or image tag) has it built in: accepted without a warning', () => {
    for (const input of [{ version: '2.6.2' }, { image: 'vaultctl/openbao:2.6.2' }]) {
      const res = resolveSpec({ ...input, seal: { type: 'awskms', awskms: AWS } });
      expect(res.spec.serverVersion).toBe('2.6.2');
      expect(res.warnings.filter((w) => w.includes('awskms'))).toEqual([]);
    }
  });

  it('OpenBao 2.7.2 with the plugin: accepted', () => {
    const res = resolveSpec({
      version: '2.7.2',
      seal: { type: 'awskms', awskms: { ...AWS, plugin: PLUGIN } },
    });
    expect(res.spec.seal.awskms?.plugin?.sha256).toBe(PLUGIN.sha256);
  });

  it('an image whose tag names no version: a warning, not a refusal', () => {
    const res = resolveSpec({ image: 'openbao/openbao:latest', seal: { type: 'awskms', awskms: AWS } });
    expect(res.spec.serverVersion).toBeUndefined();
    expect(res.warnings.join('\n')).toMatch(/server version is unknown.*seal "awskms" fails at start/);
  });

  it('Vault has awskms built in and refuses a KMS plugin', () => {
    expect(resolveSpec({ flavor: 'vault', seal: { type: 'awskms', awskms: AWS } }).spec.seal.type).toBe(
      'awskms',
    );
    const err = refusal({ flavor: 'vault', seal: { type: 'awskms', awskms: { ...AWS, plugin: PLUGIN } } });
    expect(err.problems.map((p) => p.path)).toEqual(['seal.awskms.plugin']);
  });

  it('a plugin SHA-256 that is not 64 hex digits is refused by the schema', () => {
    const err = refusal({
      seal: { type: 'awskms', awskms: { ...AWS, plugin: { ...PLUGIN, sha256: 'xyz' } } },
    });
    expect(err.problems.map((p) => p.path)).toContain('seal.awskms.plugin.sha256');
  });

  it('static, shamir and transit are unaffected by the server version', () => {
    expect(resolveSpec({ version: '2.7.2' }).spec.seal.type).toBe('static');
    expect(resolveSpec({ version: '2.7.2', seal: { type: 'shamir' } }).warnings).toEqual([]);
  });
});

describe('the dev KMS', () => {
  it('fills in the seal: alias named after the cluster, the kms host on the network, its port after the endpoint', () => {
    const s = resolveSpec({
      name: 'devk',
      version: '2.6.2',
      apiPortBase: 18800,
      seal: { devKms: { enabled: true } },
    }).spec;
    expect(s.seal.type).toBe('awskms');
    expect(s.seal.awskms).toEqual({
      region: 'us-east-1',
      kmsKeyId: 'alias/vaultctl-devk',
      endpoint: 'http://kms:5000',
    });
    expect(s.seal.devKms.port).toBe(18808);
    expect(s.seal.devKms.image).toBe(`vaultctl/moto:${PINNED.moto}`);
  });

  it('is refused on 2.7 like any awskms seal without a plugin, and with another seal type', () => {
    expect(refusal({ seal: { devKms: { enabled: true } } }).problems.map((p) => p.path)).toEqual([
      'seal.type',
    ]);
    expect(
      refusal({
        version: '2.6.2',
        seal: {
          type: 'transit',
          devKms: { enabled: true },
          transit: { address: 'https://u:8200', keyName: 'k' },
        },
      }).problems.map((p) => p.path),
    ).toEqual(['seal.devKms']);
  });

  it('refuses seal.awskms next to it, and a port that clashes', () => {
    expect(
      refusal({ version: '2.6.2', seal: { devKms: { enabled: true }, awskms: AWS } }).problems.map(
        (p) => p.path,
      ),
    ).toEqual(['seal.awskms']);
    expect(
      refusal({ version: '2.6.2', seal: { devKms: { enabled: true, port: 8200 } } }).problems.map(
        (p) => p.path,
      ),
    ).toEqual(['seal.devKms.port']);
  });
});

describe('awskms HCL and secrets', () => {
  it('OpenBao renders no disable_mlock on 2.6.2 or 2.7.2; Vault does', () => {
    for (const version of ['2.6.2', '2.7.2']) {
      const s = resolveSpec({ version }).spec;
      expect(renderNodeHcl(s, s.nodes[0]!)).not.toContain('disable_mlock');
    }
    const v = resolveSpec({ flavor: 'vault' }).spec;
    expect(renderNodeHcl(v, v.nodes[0]!)).toContain('disable_mlock = true');
  });

  it('AWS credentials in the environment never reach the HCL or the compose file, only their names', () => {
    const values = {
      AWS_ACCESS_KEY_ID: 'AKIAEXAMPLEVALUE0001',
      AWS_SECRET_ACCESS_KEY: 'very-secret-access-key-value',
      AWS_SESSION_TOKEN: 'session-token-value-123',
    };
    const saved = { ...process.env };
    Object.assign(process.env, values);
    try {
      for (const input of [
        { version: '2.6.2', seal: { type: 'awskms' as const, awskms: AWS } },
        { seal: { type: 'awskms' as const, awskms: { ...AWS, plugin: PLUGIN } } },
      ]) {
        const rendered = renderCluster(resolveSpec(input).spec, '/state/x');
        const text = rendered.files.map((f) => f.content).join('\n') + JSON.stringify(rendered.containers);
        for (const v of Object.values(values)) expect(text).not.toContain(v);
        expect(rendered.containers[0]!.passEnv).toEqual(expect.arrayContaining(Object.keys(values)));
      }
    } finally {
      process.env = saved;
    }
  });

  it('seal.awskms.credentialsFile is mounted read-only and named in the environment, never read into a file', () => {
    const file = '/etc/vaultctl/aws-credentials';
    const s = resolveSpec({
      version: '2.6.2',
      seal: { type: 'awskms', awskms: { ...AWS, credentialsFile: file } },
    }).spec;
    const rendered = renderCluster(s, '/state/x');
    for (const node of rendered.containers.filter((c) => c.labels['io.vaultctl.kind'] === 'node')) {
      expect(node.mounts).toContainEqual({
        type: 'bind',
        source: file,
        target: AWS_CREDENTIALS_TARGET,
        readOnly: true,
      });
      expect(node.env.AWS_SHARED_CREDENTIALS_FILE).toBe(AWS_CREDENTIALS_TARGET);
    }
    expect(rendered.files.find((f) => f.path === 'nodes/vault-1/node.hcl')?.content).not.toContain(file);
    const relative = configErrorOf(() =>
      resolveSpec({
        version: '2.6.2',
        seal: { type: 'awskms', awskms: { ...AWS, credentialsFile: 'aws.txt' } },
      }),
    );
    expect(relative).toContain('expected an absolute path (the file is bind-mounted into each node)');
  });

  it('the dev KMS: its own container on the network, fixed dev credentials, nothing taken from the environment', () => {
    const s = resolveSpec({ name: 'devk', version: '2.6.2', seal: { devKms: { enabled: true } } }).spec;
    const rendered = renderCluster(s, '/state/x');
    const kms = rendered.containers.find((c) => c.name === 'devk-kms');
    expect(kms?.network.aliases).toEqual(['kms']);
    expect(kms?.ports).toEqual([{ hostIp: '127.0.0.1', hostPort: s.seal.devKms.port, containerPort: 5000 }]);
    const node = rendered.containers[0]!;
    expect(node.passEnv).toEqual([]);
    expect(node.env.AWS_ACCESS_KEY_ID).toBe('vaultctl-dev');
    expect(rendered.files.find((f) => f.path === 'nodes/vault-1/node.hcl')?.content).toContain(
      'endpoint   = "http://kms:5000"',
    );
  });
});

function configErrorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return JSON.stringify((err as { problems?: unknown }).problems ?? String(err));
  }
  throw new Error('expected a ConfigError, nothing was thrown');
}
