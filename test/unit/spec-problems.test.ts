/**
 * Spec validation problems: the cross-field rules, the schema's refusals, and both reported at once
 * (a refused field does not hide a rule's problem elsewhere), each with its dotted path.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { resolveSpec } from '../../src/spec/resolve.js';

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

describe('resolveSpec cross-field rules', () => {
  it('refuses an even node count', () => {
    const err = configError(() => resolveSpec({ nodeCount: 4 }));
    expect(err.problems).toHaveLength(1);
    expect(err.problems[0]!.path).toBe('nodeCount');
    expect(err.problems[0]!.message).toContain('odd number');
    expect(err.exitCode).toBe(1);
  });

  it('refuses a single node', () => {
    expect(problemPaths({ nodeCount: 1 })).toContain('nodeCount');
  });

  it('refuses an explicit node list with an even length under "nodes"', () => {
    expect(
      problemPaths({
        nodes: [
          { name: 'a1', apiPort: 9100 },
          { name: 'b2', apiPort: 9200 },
        ],
      }),
    ).toContain('nodes');
  });

  it('refuses duplicate ports in an explicit node list, naming both nodes', () => {
    const err = configError(() =>
      resolveSpec({
        nodes: [
          { name: 'vault-1', apiPort: 8200 },
          { name: 'vault-2', apiPort: 8200 },
          { name: 'vault-3', apiPort: 8204 },
        ],
      }),
    );
    expect(err.problems.map((p) => p.path)).toEqual(['nodes.1.apiPort']);
    expect(err.problems[0]!.message).toContain('vault-1');
    expect(err.problems[0]!.message).toContain('vault-2');
  });

  it('refuses duplicate node names', () => {
    expect(
      problemPaths({
        nodes: [
          { name: 'vault-1', apiPort: 8200 },
          { name: 'vault-2', apiPort: 8202 },
          { name: 'vault-1', apiPort: 8204 },
        ],
      }),
    ).toEqual(['nodes.2.name']);
  });

  it('refuses ports above 65535 reached from apiPortBase', () => {
    const paths = problemPaths({ apiPortBase: 65534 });
    expect(paths.length).toBeGreaterThan(0);
    expect(new Set(paths)).toEqual(new Set(['apiPortBase']));
  });

  it('refuses a threshold larger than the shares', () => {
    const err = configError(() => resolveSpec({ seal: { type: 'shamir', shares: 3, threshold: 5 } }));
    expect(err.problems.map((p) => p.path)).toEqual(['seal.threshold']);
    expect(err.problems[0]!.message).toContain('threshold 5 is larger than shares 3');
  });

  it('refuses threshold 1 with five shares', () => {
    expect(problemPaths({ seal: { shares: 5, threshold: 1 } })).toEqual(['seal.threshold']);
  });

  it('accepts one share with threshold 1', () => {
    expect(resolveSpec({ seal: { type: 'shamir', shares: 1, threshold: 1 } }).spec.seal.threshold).toBe(1);
  });

  it('refuses the static seal on HashiCorp Vault', () => {
    const err = configError(() => resolveSpec({ flavor: 'vault', seal: { type: 'static' } }));
    expect(err.problems.map((p) => p.path)).toEqual(['seal.type']);
    expect(err.problems[0]!.message).toContain('OpenBao only');
  });

  it('refuses a PGP key count that differs from the share count', () => {
    expect(problemPaths({ seal: { shares: 5, threshold: 3, pgpKeys: ['a.asc', 'b.asc'] } })).toEqual([
      'seal.pgpKeys',
    ]);
  });

  it('accepts one PGP key per share', () => {
    const pgpKeys = ['a.asc', 'b.asc', 'c.asc'];
    expect(resolveSpec({ seal: { shares: 3, threshold: 2, pgpKeys } }).spec.seal.pgpKeys).toEqual(pgpKeys);
  });

  it('refuses the awskms seal without its settings', () => {
    expect(problemPaths({ version: '2.6.2', seal: { type: 'awskms' } })).toEqual(['seal.awskms']);
  });

  it('takes the transit seal without an address as the unsealer vaultctl runs (OpenBao only)', () => {
    expect(resolveSpec({ seal: { type: 'transit' } }).spec.seal.type).toBe('transit');
    expect(problemPaths({ flavor: 'vault', seal: { type: 'transit' } })).toEqual(['seal.transit.address']);
    expect(problemPaths({ seal: { type: 'transit', transit: { tokenFile: '/t' } } })).toEqual([
      'seal.transit.tokenFile',
    ]);
  });

  it('refuses an autopilot min quorum above the node count, or below 3 with cleanup on', () => {
    expect(problemPaths({ raft: { autopilot: { minQuorum: 5 } } })).toEqual(['raft.autopilot.minQuorum']);
    expect(problemPaths({ raft: { autopilot: { minQuorum: 2 } } })).toEqual(['raft.autopilot.minQuorum']);
  });

  it('reports several problems at once in one error', () => {
    const err = configError(() => resolveSpec({ nodeCount: 4, seal: { threshold: 9 } }));
    const paths = err.problems.map((p) => p.path);
    expect(paths).toContain('nodeCount');
    expect(paths).toContain('seal.threshold');
    expect(err.message).toBe('2 problems in the cluster spec');
  });

  it('renders every problem with its path under one "Error" line', () => {
    const err = configError(() =>
      resolveSpec({ nodeCount: 4, flavor: 'vault', seal: { type: 'static', threshold: 9 } }),
    );
    const text = err.render();
    expect(text.startsWith('Error validating the cluster spec: 3 problems in the cluster spec')).toBe(true);
    for (const path of ['nodeCount', 'seal.type', 'seal.threshold']) expect(text).toContain(`  - ${path}: `);
    expect(text).toMatch(/\nhint: /);
  });

  it('uses the caller-supplied "doing" in the message', () => {
    const err = configError(() => resolveSpec({ nodeCount: 4 }, 'rendering the cluster'));
    expect(err.render()).toContain('Error rendering the cluster: ');
  });
});

describe('resolveSpec schema errors', () => {
  it('reports an unknown top-level key, naming it', () => {
    const err = configError(() => resolveSpec({ nodeCont: 3 }));
    expect(err.problems).toHaveLength(1);
    expect(err.problems[0]!.path).toBe('nodeCont');
    expect(err.problems[0]!.message).toBe('unknown field');
    expect(err.render()).toContain('  - nodeCont: unknown field');
  });

  it('reports an unknown nested key with its full dotted path', () => {
    const err = configError(() => resolveSpec({ raft: { multiplier: 2 } }));
    expect(err.problems.map((p) => p.path)).toEqual(['raft.multiplier']);
    expect(err.problems[0]!.message).toBe('unknown field');
  });

  it('reports a wrong type with its path', () => {
    expect(problemPaths({ nodeCount: 'three' })).toEqual(['nodeCount']);
  });

  it('reports an unknown flavor', () => {
    expect(problemPaths({ flavor: 'consul' })).toEqual(['flavor']);
  });

  it('reports an unknown seal type', () => {
    expect(problemPaths({ seal: { type: 'file' } })).toEqual(['seal.type']);
  });

  it('reports nested paths with array indices', () => {
    expect(
      problemPaths({
        nodes: [
          { name: 'vault-1', apiPort: 8200 },
          { name: 'Vault_2', apiPort: 8202 },
          { name: 'vault-3', apiPort: 70000 },
        ],
      }),
    ).toEqual(['nodes.1.name', 'nodes.2.apiPort']);
  });

  it('reports several schema problems at once', () => {
    const paths = problemPaths({ nodeCount: 'three', flavor: 'consul', bindAddress: 'localhost' });
    expect(paths).toEqual(expect.arrayContaining(['nodeCount', 'flavor', 'bindAddress']));
  });

  it('refuses a malformed duration', () => {
    expect(problemPaths({ telemetry: { prometheusRetentionTime: '30 seconds' } })).toEqual([
      'telemetry.prometheusRetentionTime',
    ]);
  });
});

describe('resolveSpec reports schema and cross-field problems together', () => {
  it('an unknown field does not hide the node count, threshold, duplicate names and ports', () => {
    const err = configError(() =>
      resolveSpec({
        colour: 'blue',
        seal: { shares: 3, threshold: 5 },
        nodes: [
          { name: 'vault-1', apiPort: 8200 },
          { name: 'vault-1', apiPort: 8200 },
          { name: 'vault-3', apiPort: 8204 },
          { name: 'vault-4', apiPort: 8206 },
        ],
      }),
    );
    expect(err.problems).toEqual([
      { path: 'colour', message: 'unknown field' },
      expect.objectContaining({ path: 'nodes', message: expect.stringContaining('odd number of nodes') }),
      { path: 'nodes.1.name', message: 'duplicate node name "vault-1" (also nodes.0)' },
      { path: 'nodes.1.apiPort', message: 'port 8200 is used by two nodes (vault-1 and vault-1)' },
      { path: 'seal.threshold', message: 'threshold 5 is larger than shares 3' },
    ]);
    expect(err.message).toBe('5 problems in the cluster spec');
    expect(err.hint).toContain('config/vaultctl.example.yaml');
  });

  it('a value out of range and an unknown nested key beside an even node count', () => {
    expect(problemPaths({ nodeCount: 4, raft: { performanceMultiplier: 0, multiplier: 2 } })).toEqual([
      'raft.performanceMultiplier',
      'raft.multiplier',
      'nodeCount',
    ]);
  });

  it('an unknown key inside a node does not hide a duplicate port', () => {
    expect(
      problemPaths({
        nodes: [
          { name: 'vault-1', apiPort: 8200, port: 1 },
          { name: 'vault-2', apiPort: 8200 },
          { name: 'vault-3', apiPort: 8204 },
        ],
      }),
    ).toEqual(['nodes.0.port', 'nodes.1.apiPort']);
  });

  it('a rule that reads a refused value is skipped: a default never stands in for it', () => {
    // shares "x" is refused; judging threshold 6 against the default 5 shares would be wrong.
    expect(problemPaths({ seal: { shares: 'x', threshold: 6 } })).toEqual(['seal.shares']);
    // The default ports would collide with monitoring.port 8200, but the node count was refused.
    expect(problemPaths({ nodeCount: 'four', monitoring: { port: 8200 } })).toEqual(['nodeCount']);
    // A refused node takes the list with it: the duplicate name is judged once the list is valid.
    expect(
      problemPaths({
        nodes: [
          { name: 'vault-1', apiPort: 8200 },
          { name: 'vault-1', apiPort: 70000 },
          { name: 'vault-3', apiPort: 8204 },
        ],
      }),
    ).toEqual(['nodes.1.apiPort']);
  });

  it('a missing required field is reported once, and the rule on its object is skipped', () => {
    expect(
      problemPaths({ version: '2.6.2', seal: { type: 'awskms', awskms: { region: 'eu-west-1' } } }),
    ).toEqual(['seal.awskms.kmsKeyId']);
  });

  it('rules that read only accepted values still run next to refused ones', () => {
    expect(
      problemPaths({ flavor: 'vault', seal: { type: 'static' }, logLevel: 'loud', nodeCount: 2 }),
    ).toEqual(['logLevel', 'nodeCount', 'seal.type']);
  });

  it('input that is not a mapping: one problem, no rules', () => {
    expect(configError(() => resolveSpec(5)).problems).toEqual([{ path: '', message: expect.any(String) }]);
  });
});
