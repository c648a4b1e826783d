import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { LABELS } from '../../src/runtime/port.js';
import { COMPOSE_FILE } from '../../src/spec/names.js';
import { resolveSpec } from '../../src/spec/resolve.js';
import { type ClusterSpec, PINNED, type SpecInput } from '../../src/spec/schema.js';
import { hclString, renderNodeHcl } from '../../src/templates/hcl.js';
import { renderPolicies } from '../../src/templates/policies.js';
import { renderCluster } from '../../src/templates/render.js';

const GOLDEN_ROOT = fileURLToPath(new URL('../fixtures/golden/', import.meta.url));
const UPDATE = process.env.UPDATE_GOLDEN === '1';
const OUT_DIR = '/state/alphapulse';

const CASES: Record<string, SpecInput> = {
  'openbao-default': {},
  'openbao-audit-socket': { audit: { socket: { address: 'syslog:5140' } } },
  'vault-shamir': { flavor: 'vault' },
  'openbao-shamir-5': { seal: { type: 'shamir' }, nodeCount: 5 },
  'openbao-awskms': {
    // The last OpenBao with the awskms seal built in; 2.7 needs the plugin (the next case).
    version: PINNED.openbaoPrevious,
    seal: {
      type: 'awskms',
      awskms: {
        region: 'eu-central-1',
        kmsKeyId: 'alias/vaultctl-unseal',
        endpoint: 'https://kms.example.test',
      },
    },
  },
  'openbao-awskms-plugin': {
    seal: {
      type: 'awskms',
      awskms: {
        region: 'eu-central-1',
        kmsKeyId: 'alias/vaultctl-unseal',
        plugin: {
          binary: '/opt/plugins/openbao-plugin-kms-aws',
          sha256: '5f4dcc3b5aa765d61d8327deb882cf995f4dcc3b5aa765d61d8327deb882cf99',
        },
      },
    },
  },
};

const PREVIOUS = PINNED.openbaoPrevious;

function spec(input: SpecInput = {}): ClusterSpec {
  return resolveSpec(input).spec;
}

function listFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

describe('golden files', () => {
  for (const [name, input] of Object.entries(CASES)) {
    describe(name, () => {
      const rendered = renderCluster(spec(input), OUT_DIR);
      const dir = join(GOLDEN_ROOT, name);

      if (UPDATE) {
        it('rewrites the golden files (UPDATE_GOLDEN=1)', () => {
          rmSync(dir, { recursive: true, force: true });
          for (const f of rendered.files) {
            mkdirSync(dirname(join(dir, f.path)), { recursive: true });
            writeFileSync(join(dir, f.path), f.content);
          }
          expect(listFiles(dir)).toEqual(rendered.files.map((f) => f.path).sort());
        });
        return;
      }

      it('renders exactly the files in the golden directory', () => {
        expect(rendered.files.map((f) => f.path).sort()).toEqual(listFiles(dir));
      });

      for (const f of rendered.files) {
        it(`${f.path} matches the golden file`, () => {
          expect(f.content).toBe(readFileSync(join(dir, f.path), 'utf8'));
        });
      }
    });
  }
});

describe('hclString', () => {
  it('quotes plain strings', () => {
    expect(hclString('vault-1')).toBe('"vault-1"');
  });

  it('escapes quotes, backslashes and newlines', () => {
    expect(hclString('a "b" c')).toBe('"a \\"b\\" c"');
    expect(hclString('C:\\dir')).toBe('"C:\\\\dir"');
    expect(hclString('line1\nline2\r\tx')).toBe('"line1\\nline2\\r\\tx"');
  });

  it('escapes template directives', () => {
    expect(hclString('%{ if x }')).toBe('"%%{ if x }"');
    expect(hclString('a%{b}c%{d}')).toBe('"a%%{b}c%%{d}"');
  });

  // Written as a replacement string, the escape '$${' would leave "${" as it is (see hclString).
  it('escapes template interpolation', () => {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a literal ${ is what is tested
    expect(hclString('${env.HOME}')).toBe('"$${env.HOME}"');
  });

  it('escapes interpolation and directives together', () => {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a literal ${ is what is tested
    expect(hclString('a${b}c%{d}e${f}')).toBe('"a$${b}c%%{d}e$${f}"');
  });

  it('leaves a lone $ or % alone', () => {
    expect(hclString('100% $HOME')).toBe('"100% $HOME"');
  });

  it('escapes user values in the rendered HCL', () => {
    const s = spec({
      version: PREVIOUS,
      seal: { type: 'awskms', awskms: { region: 'eu-west-1', kmsKeyId: 'k"%{x}\n' } },
    });
    const hcl = renderNodeHcl(s, s.nodes[0]!);
    expect(hcl).toContain('kms_key_id = "k\\"%%{x}\\n"');
  });

  it('escapes "${" in user values in the rendered HCL', () => {
    const s = spec({
      version: PREVIOUS,
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a literal ${ is what is tested
      seal: { type: 'awskms', awskms: { region: 'eu-west-1', kmsKeyId: 'key-${x}' } },
    });
    expect(renderNodeHcl(s, s.nodes[0]!)).toContain('kms_key_id = "key-$${x}"');
  });
});

describe('node HCL', () => {
  it('joins the other nodes only, never itself', () => {
    const s = spec({ nodeCount: 5 });
    for (const node of s.nodes) {
      const hcl = renderNodeHcl(s, node);
      const joins = [...hcl.matchAll(/leader_api_addr\s+= "https:\/\/([^:]+):8200"/g)].map((m) => m[1]);
      expect(joins).toEqual(s.nodes.filter((n) => n.name !== node.name).map((n) => n.name));
      expect(hcl).toContain(`node_id = "${node.name}"`);
      expect(hcl).toContain(`api_addr      = "https://${node.name}:8200"`);
      expect(hcl).toContain(`leader_ca_cert_file   = "/openbao/tls/ca.pem"`);
      expect(hcl).toContain('tls_min_version = "tls13"');
    }
  });

  it('renders disable_mlock for Vault only: OpenBao has no mlock and 2.7 logs the field as unknown', () => {
    const bao = spec();
    const vault = spec({ flavor: 'vault' });
    expect(renderNodeHcl(bao, bao.nodes[0]!)).not.toContain('disable_mlock');
    expect(renderNodeHcl(vault, vault.nodes[0]!)).toContain('disable_mlock = true');
  });

  it('carries the performance multiplier', () => {
    const s = spec({ raft: { performanceMultiplier: 3 } });
    expect(renderNodeHcl(s, s.nodes[0]!)).toContain('  performance_multiplier = 3\n');
  });

  it('declares the audit device only for OpenBao with audit enabled', () => {
    const bao = spec();
    const vault = spec({ flavor: 'vault' });
    const off = spec({ audit: { enabled: false } });
    expect(renderNodeHcl(bao, bao.nodes[0]!)).toContain('audit "file" "file" {');
    expect(renderNodeHcl(vault, vault.nodes[0]!)).not.toContain('audit "');
    expect(renderNodeHcl(off, off.nodes[0]!)).not.toContain('audit "');
  });

  it('renders the static seal reading the key mounted in the container', () => {
    const s = spec();
    const hcl = renderNodeHcl(s, s.nodes[0]!);
    expect(hcl).toContain('seal "static" {');
    expect(hcl).toContain('current_key    = "file:///openbao/seal/seal.key"');
  });

  it('renders a transit seal', () => {
    const s = spec({
      seal: { type: 'transit', transit: { address: 'https://transit.example.test:8200', keyName: 'unseal' } },
    });
    const hcl = renderNodeHcl(s, s.nodes[0]!);
    expect(hcl).toContain('seal "transit" {');
    expect(hcl).toContain('  address    = "https://transit.example.test:8200"');
    expect(hcl).toContain('  mount_path = "transit/"');
    expect(hcl).toContain('BAO_TOKEN');
  });

  it('has no seal stanza for shamir', () => {
    const s = spec({ seal: { type: 'shamir' } });
    expect(renderNodeHcl(s, s.nodes[0]!)).not.toMatch(/^seal "/m);
  });
});

describe('rendered containers', () => {
  it('publish every port on 127.0.0.1 by default', () => {
    const r = renderCluster(spec({ nodeCount: 5 }), OUT_DIR);
    const ports = r.containers.flatMap((c) => c.ports);
    // Five nodes (API and, one port up, metrics), then the endpoint on the port after theirs.
    expect(ports).toHaveLength(11);
    for (const p of ports) expect(p.hostIp).toBe('127.0.0.1');
    expect(ports.filter((p) => p.containerPort === 8200).map((p) => p.hostPort)).toEqual([
      8200, 8202, 8204, 8206, 8208, 8210,
    ]);
    expect(ports.filter((p) => p.containerPort === 8210).map((p) => p.hostPort)).toEqual([
      8201, 8203, 8205, 8207, 8209,
    ]);
  });

  it('publish on the bind address the spec asks for', () => {
    const r = renderCluster(spec({ bindAddress: '10.1.2.3' }), OUT_DIR);
    expect(new Set(r.containers.flatMap((c) => c.ports.map((p) => p.hostIp)))).toEqual(new Set(['10.1.2.3']));
  });

  it('mount the seal key only for the static seal', () => {
    const targets = (s: ClusterSpec) =>
      renderCluster(s, OUT_DIR).containers[0]!.mounts.map((m) => (m.type === 'bind' ? m.source : m.name));
    expect(targets(spec())).toContain('/state/alphapulse/seal.key');
    expect(targets(spec({ seal: { type: 'shamir' } }))).not.toContain('/state/alphapulse/seal.key');
  });

  describe('config-hash label', () => {
    const hashes = (s: ClusterSpec) =>
      renderCluster(s, OUT_DIR)
        .containers.filter((c) => c.labels[LABELS.kind] === 'node')
        .map((c) => c.labels[LABELS.configHash]);

    it('is the same when nothing changes', () => {
      expect(hashes(spec())).toEqual(hashes(spec()));
      expect(hashes(spec())[0]).toMatch(/^[0-9a-f]{16}$/);
    });

    it('differs between nodes', () => {
      expect(new Set(hashes(spec())).size).toBe(3);
    });

    it('changes when the image changes', () => {
      const a = hashes(spec());
      const b = hashes(spec({ image: 'openbao/openbao:9.9.9' }));
      for (const [i, h] of a.entries()) expect(b[i]).not.toBe(h);
    });

    it('changes when the performance multiplier changes', () => {
      const a = hashes(spec());
      const b = hashes(spec({ raft: { performanceMultiplier: 2 } }));
      for (const [i, h] of a.entries()) expect(b[i]).not.toBe(h);
    });

    it('does not depend on fields that reach neither HCL nor container (the KV path)', () => {
      expect(hashes(spec({ kv: { path: 'kv' } }))).toEqual(hashes(spec()));
    });
  });
});

describe('compose file', () => {
  it('passes awskms credentials through by name only, never by value', () => {
    const doc = parsed(
      spec({
        version: PREVIOUS,
        seal: { type: 'awskms', awskms: { region: 'eu-west-1', kmsKeyId: 'alias/k' } },
      }),
    );
    expect(doc.services['vault-1'].environment).toEqual(
      expect.arrayContaining(['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN']),
    );
  });

  const composeOf = (s: ClusterSpec) => {
    const f = renderCluster(s, OUT_DIR).files.find((x) => x.path === COMPOSE_FILE);
    expect(f).toBeDefined();
    return f!.content;
  };

  // biome-ignore lint/suspicious/noExplicitAny: a parsed YAML document
  const parsed = (s: ClusterSpec): any => parseYaml(composeOf(s));

  it('parses as YAML with services vault-1..3', () => {
    const doc = parsed(spec());
    expect(Object.keys(doc.services)).toEqual(['vault-1', 'vault-2', 'vault-3', 'endpoint', 'volume-owner']);
    expect(doc.services['vault-2'].container_name).toBe('alphapulse-vault-2');
    expect(doc.services['vault-2'].image).toBe(spec().image);
  });

  it('publishes every port on 127.0.0.1', () => {
    const doc = parsed(spec());
    const ports = Object.values(doc.services).flatMap((svc) => (svc as { ports?: string[] }).ports ?? []);
    expect(ports).toEqual([
      '127.0.0.1:8200:8200',
      '127.0.0.1:8201:8210',
      '127.0.0.1:8202:8200',
      '127.0.0.1:8203:8210',
      '127.0.0.1:8204:8200',
      '127.0.0.1:8205:8210',
      '127.0.0.1:8206:8200',
    ]);
  });

  it('names the network and volumes explicitly', () => {
    const doc = parsed(spec());
    expect(doc.networks.vault.name).toBe('alphapulse-net');
    expect(Object.keys(doc.volumes)).toHaveLength(6);
    for (const [key, v] of Object.entries(doc.volumes)) expect((v as { name: string }).name).toBe(key);
    expect(doc.volumes['alphapulse-vault-1-data'].labels[LABELS.kind]).toBe('data');
  });

  it('does not carry the config-hash label', () => {
    expect(composeOf(spec())).not.toContain(LABELS.configHash);
  });

  it('reads the seal key from VAULTCTL_SEAL_KEY_FILE with ./seal.key as the default', () => {
    const doc = parsed(spec());
    expect(doc.services['vault-1'].volumes).toContain(
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a literal ${ is what is tested
      '${VAULTCTL_SEAL_KEY_FILE:-./seal.key}:/openbao/seal/seal.key:ro',
    );
  });

  it('uses /vault paths and VAULT_ADDR for the vault flavor', () => {
    const doc = parsed(spec({ flavor: 'vault' }));
    const svc = doc.services['vault-1'];
    expect(svc.environment).toContain('VAULT_ADDR=https://127.0.0.1:8200');
    expect(svc.environment).toContain('VAULT_CACERT=/vault/tls/ca.pem');
    expect(svc.environment.some((e: string) => e.startsWith('BAO_ADDR'))).toBe(false);
    expect(svc.command).toEqual(['server', '-config=/vault/config/node.hcl']);
    expect(svc.volumes).toEqual([
      './nodes/vault-1:/vault/config:ro',
      'alphapulse-vault-1-data:/vault/data',
      'alphapulse-vault-1-logs:/vault/logs',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: compose interpolation, not JS
      '${VAULTCTL_TLS_DIR:-./tls}/vault-1:/vault/tls:ro',
    ]);
  });
});

describe('policies', () => {
  const policies = renderPolicies(spec());
  const byName = (name: string) => {
    const p = policies.find((x) => x.name === name);
    expect(p).toBeDefined();
    return p!;
  };
  const capabilities = (hcl: string) =>
    [...hcl.matchAll(/capabilities = \[([^\]]*)\]/g)].flatMap((m) => m[1]!.split(',').map((c) => c.trim()));

  it('has tenant-access, app-read, admin and metrics', () => {
    expect(policies.map((p) => p.name)).toEqual(['tenant-access', 'app-read', 'admin', 'metrics']);
  });

  it('metrics reads sys/metrics and nothing else', () => {
    const hcl = byName('metrics').hcl;
    expect([...hcl.matchAll(/^path "([^"]+)"/gm)].map((m) => m[1])).toEqual(['sys/metrics']);
    expect(capabilities(hcl)).toEqual(['"read"']);
  });

  it('tenant-access is scoped by the entity tenant_id template', () => {
    const hcl = byName('tenant-access').hcl;
    expect(hcl).toContain('path "secret/data/tenants/{{identity.entity.metadata.tenant_id}}/*"');
    expect(hcl).toContain('path "secret/metadata/tenants/{{identity.entity.metadata.tenant_id}}/*"');
    for (const m of hcl.matchAll(/^path "([^"]+)"/gm)) {
      expect(m[1]).toContain('{{identity.entity.metadata.tenant_id}}');
    }
  });

  it('app-read can only read and list', () => {
    const caps = new Set(capabilities(byName('app-read').hcl));
    expect(caps.size).toBeGreaterThan(0);
    expect([...caps].every((c) => c === '"read"' || c === '"list"')).toBe(true);
  });

  it('follows the KV mount path of the spec', () => {
    const hcl = renderPolicies(spec({ kv: { path: 'kv' } }))[0]!.hcl;
    expect(hcl).toContain('path "kv/data/tenants/');
    expect(hcl).not.toContain('secret/');
  });
});
