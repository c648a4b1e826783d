/**
 * The agent container of `up --agent` (pure): what renderCluster makes of it (mounts of the state
 * dir's agent pieces only, nodes after the plan's node gate, hardened, metrics on 127.0.0.1), and
 * the spec rules that refuse it without a backup section or with GPG encryption.
 */
import { describe, expect, it } from 'vitest';
import { NEEDS } from '../../src/cluster/reconcile/order.js';
import { ConfigError } from '../../src/errors.js';
import { LABELS } from '../../src/runtime/port.js';
import { resolveSpec } from '../../src/spec/resolve.js';
import type { SpecInput } from '../../src/spec/schema.js';
import { AGENT_SPEC_FILE } from '../../src/templates/agent.js';
import { renderCluster } from '../../src/templates/render.js';

const backup = {
  schedule: '@every 1m',
  metricsPort: 19464,
  destinations: [{ url: '/var/backups/vault', keep: 3 }],
};
const input: SpecInput = { name: 'c1', agent: { enabled: true, image: 'vaultctl/agent:test' }, backup };

describe('up --agent: the agent container', () => {
  const rendered = renderCluster(resolveSpec(input).spec, '/state/c1');
  const agent = rendered.containers.find((c) => c.labels[LABELS.kind] === 'agent')!;

  it('is <cluster>-agent on the cluster network, restarted by Docker, started after the nodes', () => {
    expect(agent.name).toBe('c1-agent');
    expect(agent.image).toBe('vaultctl/agent:test');
    expect(agent.network.name).toBe(rendered.network.name);
    expect(agent.restart).toBe('unless-stopped');
    expect(agent.cmd).toEqual(['--cluster', 'c1', 'agent', '--log-format', 'json', '--metrics-port', '9464']);
    expect(agent.env.VAULTCTL_AGENT_IN_NETWORK).toBe('1');
    expect(NEEDS.agent).toEqual(['node']);
  });

  it('mounts only the agent pieces of the state dir, read-only where it can', () => {
    const mounts = agent.mounts.map((m) =>
      m.type === 'bind' ? [m.source, m.target, m.readOnly] : [m.name, m.target],
    );
    expect(mounts).toEqual([
      [`/state/c1/${AGENT_SPEC_FILE}`, '/var/lib/vaultctl/c1/cluster.json', true],
      ['/state/c1/agent', '/var/lib/vaultctl/c1/agent', false],
      ['/state/c1/tls/ca.pem', '/var/lib/vaultctl/c1/tls/ca.pem', true],
      ['/var/backups/vault', '/var/backups/vault', false],
    ]);
    expect(rendered.files.map((f) => f.path)).toContain(AGENT_SPEC_FILE);
  });

  it('is hardened: service uid, no capability, read-only root, a 0700 tmpfs state root, limits', () => {
    expect(agent.user).toMatch(/^\d+:\d+$/);
    expect(agent.security?.capAdd).toEqual([]);
    expect(agent.security?.readOnlyRootfs).toBe(true);
    expect(agent.security?.noNewPrivileges).toBe(true);
    expect(agent.security?.memoryBytes).toBe(256 * 1024 ** 2);
    expect(agent.security?.pidsLimit).toBe(128);
    expect(agent.security?.tmpfs.map((t) => t.target)).toEqual(['/tmp', '/var/lib/vaultctl/c1']);
    expect(agent.security?.tmpfs[1]?.options).toContain('mode=0700');
  });

  it('publishes its metrics on 127.0.0.1 only, and none without backup.metricsPort', () => {
    expect(agent.ports).toEqual([{ hostIp: '127.0.0.1', hostPort: 19464, containerPort: 9464 }]);
    const quiet = renderCluster(
      resolveSpec({ ...input, backup: { ...backup, metricsPort: 0 } }).spec,
      '/state/c1',
    ).containers.find((c) => c.labels[LABELS.kind] === 'agent')!;
    expect(quiet.ports).toEqual([]);
    expect(quiet.cmd.at(-1)).toBe('0');
  });

  it('is refused without a backup section, and with GPG encryption (no gpg in its image)', () => {
    const problems = (i: unknown) => {
      try {
        resolveSpec(i as SpecInput);
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        return (err as ConfigError).problems.map((p) => `${p.path}: ${p.message}`);
      }
      throw new Error('expected a ConfigError, nothing was thrown');
    };
    expect(problems({ name: 'c1', agent: { enabled: true } })).toEqual([
      'agent.enabled: the agent container runs the backup section, and the spec has none',
    ]);
    const gpg = problems({ ...input, backup: { ...backup, encryption: { gpgPublicKeys: ['/k.asc'] } } });
    expect(gpg).toHaveLength(1);
    expect(gpg[0]).toMatch(/^agent\.enabled: the agent container has no gpg/);
  });

  it('is absent unless enabled', () => {
    const plain = renderCluster(resolveSpec({ name: 'c1', backup }).spec, '/state/c1');
    expect(plain.containers.some((c) => c.labels[LABELS.kind] === 'agent')).toBe(false);
    expect(plain.files.map((f) => f.path)).not.toContain(AGENT_SPEC_FILE);
  });
});
