import { describe, expect, it } from 'vitest';
import { LABELS } from '../../src/runtime/port.js';
import { COMPOSE_FILE, unsealerPort } from '../../src/spec/names.js';
import { resolveSpec } from '../../src/spec/resolve.js';
import type { SpecInput } from '../../src/spec/schema.js';
import { renderNodeHcl } from '../../src/templates/hcl.js';
import { renderCluster } from '../../src/templates/render.js';
import { nodeTokenPolicy } from '../../src/unsealer/render.js';
import { withTransitToken } from '../../src/unsealer/unsealer.js';

const OUT = '/state/cx';
const spec = (input: SpecInput = {}) => resolveSpec({ name: 'cx', seal: { type: 'transit' }, ...input }).spec;
const TOKEN = 's.node-token-value-not-to-be-rendered';

describe('the unsealer (transit without an address)', () => {
  it('is a container of its own: static seal, loopback port, on the cluster network as unsealer', () => {
    const s = spec();
    const r = renderCluster(s, OUT);
    const u = r.containers.find((c) => c.labels[LABELS.kind] === 'unsealer');
    expect(u?.name).toBe('cx-unsealer');
    expect(u?.ports).toEqual([{ hostIp: '127.0.0.1', hostPort: unsealerPort(s), containerPort: 8200 }]);
    expect(unsealerPort(s)).toBe(8208);
    expect(u?.network).toEqual({ name: 'cx-net', aliases: ['unsealer'] });
    expect(r.volumes.find((v) => v.name === 'cx-unsealer-data')?.labels[LABELS.kind]).toBe('unsealer-data');
    const hcl = r.files.find((f) => f.path === 'unsealer/config/unsealer.hcl')?.content ?? '';
    expect(hcl).toContain('seal "static" {');
    expect(hcl).toContain('tls_cert_file');
    // The nodes come first: code that pairs spec.nodes[i] with containers[i] keeps working.
    expect(r.containers.slice(0, 3).map((c) => c.labels[LABELS.kind])).toEqual(['node', 'node', 'node']);
  });

  it('is not rendered for an external transit server or another seal', () => {
    const ext = spec({ seal: { type: 'transit', transit: { address: 'https://t.example.test:8200' } } });
    expect(renderCluster(ext, OUT).containers.some((c) => c.labels[LABELS.kind] === 'unsealer')).toBe(false);
    expect(renderCluster(spec({ seal: { type: 'static' } }), OUT).containers).toHaveLength(4);
  });

  it('is where the nodes seal: its address on the network, verified against the cluster CA', () => {
    const s = spec();
    const hcl = renderNodeHcl(s, s.nodes[0]!);
    expect(hcl).toContain('  address    = "https://unsealer:8200"');
    expect(hcl).toContain('  key_name   = "vaultctl-autounseal"');
    expect(hcl).toContain('  tls_ca_cert = "/openbao/tls/ca.pem"');
    expect(hcl).not.toMatch(/token\s*=/);
  });

  it("gives the nodes' token encrypt and decrypt on the seal key and renewing itself, nothing else", () => {
    const policy = nodeTokenPolicy('transit/', 'k');
    const paths = [...policy.matchAll(/^path "([^"]+)"/gm)].map((m) => m[1]);
    expect(paths).toEqual([
      'transit/encrypt/k',
      'transit/decrypt/k',
      'auth/token/renew-self',
      'auth/token/lookup-self',
    ]);
    expect(policy).not.toContain('*');
  });
});

describe('withTransitToken', () => {
  it('hands the token to the node containers only, outside every rendered file', () => {
    const r = renderCluster(spec(), OUT);
    const w = withTransitToken(r, TOKEN);
    for (const c of w.containers) {
      if (c.labels[LABELS.kind] === 'node') expect(c.secretEnv).toEqual({ BAO_TOKEN: TOKEN });
      else expect(c.secretEnv).toBeUndefined();
    }
    for (const f of w.files) expect(f.content).not.toContain(TOKEN);
    expect(w.files.find((f) => f.path === COMPOSE_FILE)?.content).toContain('- BAO_TOKEN\n');
    for (const c of w.containers) expect(JSON.stringify(c.labels)).not.toContain(TOKEN);
  });

  it("changes the nodes' config hash with the token (a new token means new containers)", () => {
    const r = renderCluster(spec(), OUT);
    const hash = (t: string) => withTransitToken(r, t).containers.map((c) => c.labels[LABELS.configHash]);
    expect(hash('a').slice(0, 3)).not.toEqual(hash('b').slice(0, 3));
    expect(hash('a').slice(3)).toEqual(hash('b').slice(3));
    expect(hash('a')).toEqual(hash('a'));
  });
});
