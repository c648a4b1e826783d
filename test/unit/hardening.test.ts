/**
 * The security profile of every container kind (pure): what renderCluster gives each container,
 * what the Docker create request and the compose file make of it, and the spec's limits.
 */
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from '../../src/errors.js';
import { chownScript } from '../../src/runtime/chown-script.js';
import { createOptions } from '../../src/runtime/docker-spec.js';
import { LABELS } from '../../src/runtime/port.js';
import { resolveSpec } from '../../src/spec/resolve.js';
import type { SpecInput } from '../../src/spec/schema.js';
import { parseMemory } from '../../src/spec/security-schema.js';
import { hardenContainer } from '../../src/templates/hardening.js';
import { renderCluster } from '../../src/templates/render.js';

const spec = (input: SpecInput = {}) => resolveSpec(input).spec;
const rendered = (input: SpecInput = {}) => renderCluster(spec(input), '/state');
const kindOf = (labels: Readonly<Record<string, string>>) => labels[LABELS.kind];

describe('hardening of every container kind', () => {
  const all = rendered({
    monitoring: { enabled: true },
    seal: { type: 'transit' },
  }).containers;

  it('gives every kind a non-root user, no capability, a read-only root and limits', () => {
    expect(all.map((c) => kindOf(c.labels)).sort()).toEqual(
      ['endpoint', 'monitoring', 'node', 'node', 'node', 'unsealer'].sort(),
    );
    for (const c of all) {
      expect(c.user, c.name).toBe('10001:10001');
      expect(c.security?.capAdd, c.name).toEqual([]);
      expect(c.security?.readOnlyRootfs, c.name).toBe(true);
      expect(c.security?.noNewPrivileges, c.name).toBe(true);
      expect(c.security?.memoryBytes, c.name).toBeGreaterThan(0);
      expect(c.security?.pidsLimit, c.name).toBeGreaterThan(0);
      expect(c.security?.owner, c.name).toEqual({
        uid: 10001,
        gid: 10001,
        helperImage: 'vaultctl/busybox:1.35.0',
      });
    }
    const node = all.find((c) => kindOf(c.labels) === 'node')!;
    expect(node.security?.memoryBytes).toBe(1024 ** 3);
    expect(node.security?.tmpfs.map((t) => t.target)).toEqual(['/tmp']);
    const prom = all.find((c) => kindOf(c.labels) === 'monitoring')!;
    expect(prom.security?.tmpfs[0]?.options).toContain('size=256m,uid=10001,gid=10001');
  });

  it('keeps IPC_LOCK for the Vault flavor only', () => {
    const vault = rendered({ flavor: 'vault', seal: { type: 'shamir' } }).containers;
    const caps = vault.map((c) => [kindOf(c.labels), c.security?.capAdd]);
    expect(caps).toContainEqual(['node', ['IPC_LOCK']]);
    expect(caps).toContainEqual(['endpoint', []]);
  });

  it('the dev KMS is hardened too, but keeps its hash (its key lives in memory only)', () => {
    const kms = rendered({ seal: { devKms: { enabled: true } }, version: '2.6.2' }).containers.find(
      (c) => kindOf(c.labels) === 'kms',
    )!;
    expect(kms.security?.readOnlyRootfs).toBe(true);
    const { security: _s, user: _u, ...bare } = kms;
    const again = hardenContainer(spec({ seal: { devKms: { enabled: true } }, version: '2.6.2' }), bare, {
      uid: 1,
      gid: 1,
    });
    expect(again.labels[LABELS.configHash]).toBe(kms.labels[LABELS.configHash]);
  });

  it('a node made without the profile (an earlier release) has another config hash: up recreates it', () => {
    const s = spec();
    const node = renderCluster(s, '/state').containers[0]!;
    const other = hardenContainer(s, { ...node, labels: { ...node.labels } }, { uid: 20000, gid: 20000 });
    expect(other.labels[LABELS.configHash]).not.toBe(node.labels[LABELS.configHash]);
  });

  it('takes the limits from the spec', () => {
    const c = rendered({ security: { limits: { node: { memory: '2g', pids: 64 } } } }).containers[0]!;
    expect([c.security?.memoryBytes, c.security?.pidsLimit]).toEqual([2 * 1024 ** 3, 64]);
  });

  it('refuses a limit Docker would refuse, naming its path', () => {
    try {
      resolveSpec({ security: { limits: { endpoint: { memory: '1m' } }, uid: 0 } });
      expect.unreachable('resolveSpec accepted a 1m memory limit and uid 0');
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).problems.map((p) => p.path).sort()).toEqual([
        'security.limits.endpoint.memory',
        'security.uid',
      ]);
    }
  });

  it('parses sizes', () => {
    expect([parseMemory('512m'), parseMemory('1G'), parseMemory('64k'), parseMemory('1.5g')]).toEqual([
      512 * 1024 ** 2,
      1024 ** 3,
      64 * 1024,
      undefined,
    ]);
  });
});

describe('the Docker create request and the compose file', () => {
  const c = rendered().containers[0]!;

  it('drops every capability, sets the read-only root, tmpfs, no-new-privileges and limits', () => {
    const o = createOptions(c);
    expect(o.User).toBe('10001:10001');
    expect(o.HostConfig).toMatchObject({
      CapDrop: ['ALL'],
      ReadonlyRootfs: true,
      SecurityOpt: ['no-new-privileges:true'],
      Memory: 1024 ** 3,
      MemorySwap: 1024 ** 3,
      PidsLimit: 1024,
      Tmpfs: { '/tmp': 'rw,noexec,nosuid,nodev,size=64m,uid=10001,gid=10001' },
    });
    expect(o.HostConfig?.CapAdd).toBeUndefined();
  });

  it('a container without a profile gets none of it (what an earlier release created)', () => {
    const { security: _s, ...bare } = c;
    const o = createOptions(bare);
    expect(o.HostConfig?.CapDrop).toBeUndefined();
    expect(o.HostConfig?.ReadonlyRootfs).toBeUndefined();
  });

  it('compose: the same profile, and a one-shot service that hands the volumes over first', () => {
    const compose = rendered().files.find((f) => f.path.endsWith('.yml'))!.content;
    // biome-ignore lint/suspicious/noExplicitAny: a parsed YAML document
    const doc = parseYaml(compose) as any;
    const node = doc.services['vault-1'];
    expect(node).toMatchObject({
      user: '10001:10001',
      cap_drop: ['ALL'],
      read_only: true,
      security_opt: ['no-new-privileges:true'],
      mem_limit: 1024 ** 3,
      pids_limit: 1024,
      depends_on: { 'volume-owner': { condition: 'service_completed_successfully' } },
    });
    const owner = doc.services['volume-owner'];
    const binds = owner.volumes.filter((v: string) => v.includes(':/b/'));
    expect(owner.volumes.filter((v: string) => v.includes(':/v/'))).toHaveLength(6);
    expect(binds).toContain(`\${VAULTCTL_SEAL_KEY_FILE:-./seal.key}:/b/2`);
    expect(owner.entrypoint.at(-1)).toBe(chownScript(10001, 10001, 6, binds.length));
    expect(owner.network_mode).toBe('none');
    expect(owner.cap_drop).toEqual(['ALL']);
  });
});
