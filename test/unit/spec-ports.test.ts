/**
 * Every published port is unique at validation (issue 26 item 6): the endpoint's and the dev KMS'
 * defaults follow an explicit node list, and a metrics port (API port + 1) that is another node's
 * API port, the endpoint's, Prometheus', the unsealer's or the dev KMS' is refused with its path.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { resolveSpec } from '../../src/spec/resolve.js';

function problems(input: unknown): { path: string; message: string }[] {
  try {
    resolveSpec(input);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return [...(err as ConfigError).problems];
  }
  throw new Error('expected a ConfigError, nothing was thrown');
}

const nodes8700 = [
  { name: 'vault-1', apiPort: 8700 },
  { name: 'vault-2', apiPort: 8702 },
  { name: 'vault-3', apiPort: 8704 },
];

describe('published ports', () => {
  it('puts the endpoint after an explicit node list, not at apiPortBase + 2n', () => {
    const { spec } = resolveSpec({ name: 'mycluster', nodes: nodes8700 });
    expect(spec.endpoint.port).toBe(8706);
    const kms = resolveSpec({
      name: 'mycluster',
      nodes: nodes8700,
      seal: { devKms: { enabled: true } },
      version: '2.6.2',
    });
    expect(kms.spec.seal.devKms.port).toBe(8708);
  });

  it('keeps the default ports of the default node list', () => {
    const { spec } = resolveSpec({ apiPortBase: 8300 });
    expect(spec.nodes.map((n) => n.apiPort)).toEqual([8300, 8302, 8304]);
    expect(spec.endpoint.port).toBe(8306);
  });

  it("refuses a node's metrics port that is another node's API port, at the node's path", () => {
    expect(
      problems({
        nodes: [
          { name: 'vault-1', apiPort: 8200 },
          { name: 'vault-2', apiPort: 8201 },
          { name: 'vault-3', apiPort: 8204 },
        ],
      }),
    ).toEqual([
      {
        path: 'nodes.0.apiPort',
        message: 'port 8201 (the metrics port of vault-1 (its API port + 1)) is the API port of vault-2',
      },
    ]);
  });

  it('refuses an endpoint, Prometheus or dev KMS port on a metrics port', () => {
    expect(problems({ endpoint: { port: 8203 } })).toEqual([
      { path: 'endpoint.port', message: 'port 8203 is the metrics port of vault-2 (its API port + 1)' },
    ]);
    expect(problems({ monitoring: { enabled: true, port: 8205 } })).toEqual([
      { path: 'monitoring.port', message: 'port 8205 is the metrics port of vault-3 (its API port + 1)' },
    ]);
    expect(problems({ version: '2.6.2', seal: { devKms: { enabled: true, port: 8201 } } })).toEqual([
      { path: 'seal.devKms.port', message: 'port 8201 is the metrics port of vault-1 (its API port + 1)' },
    ]);
  });

  it("refuses the unsealer's port on the endpoint's, and Prometheus' on the endpoint's", () => {
    expect(problems({ seal: { type: 'transit', transit: { unsealerPort: 8206 } } })).toEqual([
      { path: 'seal.transit.unsealerPort', message: "port 8206 is the endpoint's port" },
    ]);
    expect(problems({ monitoring: { port: 8206 } })).toEqual([
      { path: 'endpoint.port', message: 'port 8206 is the Prometheus port' },
    ]);
  });

  it('reports every clash at once', () => {
    expect(
      problems({ endpoint: { port: 8201, standbyPort: 8203 }, standbyReads: true }).map((p) => p.path),
    ).toEqual(['endpoint.port', 'endpoint.standbyPort']);
  });
});
