import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { renderHealth } from '../../src/commands/health.js';
import {
  checkHealth,
  judgeHealth,
  type NodeHealth,
  type RaftFacts,
  VERDICT_EXIT,
} from '../../src/health/health.js';
import { connectVaultNode } from '../../src/vault/api.js';
import { type VaultConnector, type VaultNode, VaultRequestError } from '../../src/vault/port.js';

function node(name: string, over: Partial<NodeHealth> = {}): NodeHealth {
  return {
    name,
    address: `http://127.0.0.1:${8200 + 2 * (Number(name.slice(-1)) - 1)}`,
    reachable: true,
    initialized: true,
    sealed: false,
    active: false,
    ...over,
  };
}

function unreachable(name: string, error = 'connect ECONNREFUSED'): NodeHealth {
  return { name, address: 'http://127.0.0.1:1', reachable: false, error };
}

const goodNodes: NodeHealth[] = [node('vault-1', { active: true }), node('vault-2'), node('vault-3')];

const goodRaft: RaftFacts = {
  voters: ['vault-1', 'vault-2', 'vault-3'],
  servers: 3,
  leader: 'vault-1',
  failureTolerance: 1,
  autopilotHealthy: true,
  unhealthyServers: [],
};

describe('judgeHealth', () => {
  it('is healthy when every node is up, one is active and raft is complete', () => {
    const h = judgeHealth(goodNodes, 3, goodRaft);
    expect(h).toEqual({ verdict: 'healthy', reasons: [], activeCount: 1 });
  });

  it('is healthy without raft facts when the nodes are fine', () => {
    expect(judgeHealth(goodNodes, 3, undefined).verdict).toBe('healthy');
  });

  it('maps verdicts to exit codes 0/1/2', () => {
    expect(VERDICT_EXIT).toEqual({ healthy: 0, degraded: 1, down: 2 });
  });

  it('is degraded when one follower is unreachable, naming it and the cause', () => {
    const h = judgeHealth([goodNodes[0]!, goodNodes[1]!, unreachable('vault-3')], 3, goodRaft);
    expect(h.verdict).toBe('degraded');
    expect(h.reasons).toEqual(['vault-3 unreachable (connect ECONNREFUSED)']);
    expect(h.activeCount).toBe(1);
  });

  it('is degraded when one node is sealed', () => {
    const h = judgeHealth([goodNodes[0]!, node('vault-2', { sealed: true }), goodNodes[2]!], 3, goodRaft);
    expect(h.verdict).toBe('degraded');
    expect(h.reasons).toEqual(['vault-2 sealed']);
  });

  it('is degraded when one node is not initialised', () => {
    const h = judgeHealth(
      [goodNodes[0]!, goodNodes[1]!, node('vault-3', { initialized: false })],
      3,
      goodRaft,
    );
    expect(h.verdict).toBe('degraded');
    expect(h.reasons).toEqual(['vault-3 not initialised']);
  });

  it('is down when two of three nodes are unreachable: quorum is lost', () => {
    const h = judgeHealth([goodNodes[0]!, unreachable('vault-2'), unreachable('vault-3')], 3, goodRaft);
    expect(h.verdict).toBe('down');
    expect(h.reasons[0]).toBe('1 of 3 nodes unsealed, quorum needs 2');
    expect(h.reasons.join('\n')).toContain('vault-2 unreachable');
    expect(h.reasons.join('\n')).toContain('vault-3 unreachable');
  });

  it('is down when two of three nodes are sealed', () => {
    const h = judgeHealth(
      [goodNodes[0]!, node('vault-2', { sealed: true }), node('vault-3', { sealed: true })],
      3,
      undefined,
    );
    expect(h.verdict).toBe('down');
  });

  it('is down when no node is active', () => {
    const h = judgeHealth([node('vault-1'), node('vault-2'), node('vault-3')], 3, undefined);
    expect(h.verdict).toBe('down');
    expect(h.reasons).toEqual(['no active node (no leader)']);
    expect(h.activeCount).toBe(0);
  });

  it('is down when no node answers', () => {
    const h = judgeHealth(
      [unreachable('vault-1'), unreachable('vault-2'), unreachable('vault-3')],
      3,
      undefined,
    );
    expect(h.verdict).toBe('down');
    expect(h.reasons[0]).toBe('no node answers');
  });

  it('does not count a sealed node that claims to be active', () => {
    const h = judgeHealth(
      [node('vault-1', { active: true, sealed: true }), node('vault-2'), node('vault-3')],
      3,
      undefined,
    );
    expect(h.verdict).toBe('down');
    expect(h.activeCount).toBe(0);
  });

  it('is degraded with two raft voters of three', () => {
    const h = judgeHealth(goodNodes, 3, { ...goodRaft, voters: ['vault-1', 'vault-2'], servers: 2 });
    expect(h.verdict).toBe('degraded');
    expect(h.reasons).toEqual(['2 of 3 raft voters']);
  });

  it('is degraded with failure tolerance 0 where 1 is expected', () => {
    const h = judgeHealth(goodNodes, 3, { ...goodRaft, failureTolerance: 0 });
    expect(h.verdict).toBe('degraded');
    expect(h.reasons).toEqual(['failure tolerance 0, expected 1']);
  });

  it('expects failure tolerance 2 from five voters', () => {
    const five = [...goodNodes, node('vault-4'), node('vault-5')];
    const raft: RaftFacts = {
      ...goodRaft,
      voters: five.map((n) => n.name),
      servers: 5,
      failureTolerance: 1,
    };
    expect(judgeHealth(five, 5, raft).reasons).toEqual(['failure tolerance 1, expected 2']);
    expect(judgeHealth(five, 5, { ...raft, failureTolerance: 2 }).verdict).toBe('healthy');
  });

  it('is degraded when autopilot reports unhealthy servers, naming them', () => {
    const h = judgeHealth(goodNodes, 3, {
      ...goodRaft,
      autopilotHealthy: false,
      unhealthyServers: ['vault-2', 'vault-3'],
    });
    expect(h.verdict).toBe('degraded');
    expect(h.reasons).toEqual(['autopilot reports the cluster unhealthy (vault-2, vault-3)']);
  });

  it('is degraded when autopilot is unhealthy without naming servers', () => {
    const h = judgeHealth(goodNodes, 3, { ...goodRaft, autopilotHealthy: false, unhealthyServers: [] });
    expect(h.reasons).toEqual(['autopilot reports the cluster unhealthy']);
  });

  it('is degraded when two nodes claim to be active', () => {
    const h = judgeHealth([goodNodes[0]!, node('vault-2', { active: true }), goodNodes[2]!], 3, goodRaft);
    expect(h.verdict).toBe('degraded');
    expect(h.reasons).toEqual(['2 nodes claim to be active']);
    expect(h.activeCount).toBe(2);
  });

  it('lists every degradation at once', () => {
    const h = judgeHealth([goodNodes[0]!, node('vault-2', { sealed: true }), unreachable('vault-3', '')], 3, {
      ...goodRaft,
      voters: ['vault-1', 'vault-2'],
      failureTolerance: 0,
    });
    expect(h.verdict).toBe('down');
    expect(h.reasons).toEqual([
      '1 of 3 nodes unsealed, quorum needs 2',
      'vault-2 sealed',
      'vault-3 unreachable',
      '2 of 3 raft voters',
      'failure tolerance 0, expected 1',
    ]);
  });
});

describe('checkHealth against an http:// address of a TLS listener', () => {
  it('says the node serves HTTPS, with the https:// address as the hint, not "not initialised"', async () => {
    // What a TLS listener answers to plain HTTP (Go's net/http server, as OpenBao's listener does).
    const server = createServer((_req, res) => {
      res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('Client sent an HTTP request to an HTTPS server.\n');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const address = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const h = await checkHealth([{ name: 'vault-1', address }], 1, { connect: connectVaultNode });
      const node = h.nodes[0]!;
      expect(node.initialized).toBeUndefined();
      expect(node.error).toContain('serves HTTPS but was asked over plain HTTP');
      expect(node.hint).toContain(address.replace('http:', 'https:'));
      expect(h.reasons.join('\n')).not.toContain('not initialised');
      expect(renderHealth(h, undefined)).toContain(`hint: use an https:// address`);
    } finally {
      server.close();
    }
  });
});

describe('checkHealth with a token the cluster rejects', () => {
  it('is not healthy: it says that raft voters and autopilot could not be checked', async () => {
    const forbidden = (address: string) =>
      new VaultRequestError(address, 'reading the raft configuration', 'http', {
        status: 403,
        errors: ['permission denied'],
      });
    // Every node answers; the active one refuses the raft endpoints to this token.
    const connect: VaultConnector = ({ address }) =>
      ({
        address,
        health: async () => ({ initialized: true, sealed: false, standby: !address.endsWith(':1') }),
        leader: async () => ({
          ha_enabled: true,
          is_self: address.endsWith(':1'),
          leader_address: 'x',
          raft_applied_index: 9,
        }),
        raftServers: async () => {
          throw forbidden(address);
        },
        autopilotState: async () => {
          throw forbidden(address);
        },
      }) as unknown as VaultNode;
    const targets = [1, 2, 3].map((i) => ({ name: `vault-${i}`, address: `http://n${i}:${i}` }));
    const h = await checkHealth(targets, 3, { connect, token: 'bogus' });
    expect(h.verdict).toBe('degraded');
    expect(VERDICT_EXIT[h.verdict]).toBe(1);
    expect(h.reasons.join('\n')).toContain('raft voters and autopilot could not be checked');
    expect(h.reasons.join('\n')).toContain('HTTP 403');
    // Without any token the verdict rests on the nodes alone, as documented.
    const noToken = await checkHealth(targets, 3, { connect });
    expect(noToken.verdict).toBe('healthy');
    expect(noToken.raftUnknown).toContain('no token');
  });
});
