/**
 * Every port vaultctl publishes on the host, with the spec path that sets it, and the rule that no
 * two are the same: a clash Docker would only find in the middle of `up` is refused at validation.
 * The default ports follow the nodes' own (the highest API port), not apiPortBase, so a cluster
 * with an explicit node list does not take a port below its nodes that another cluster owns.
 */
import type { NodeSpec, ParsedSpec, SealType, SpecProblem } from './schema.js';

export interface PublishedPort {
  readonly port: number;
  /** The dotted path of the value that sets it (the node's apiPort for its metrics port). */
  readonly path: string;
  /** What the port is, as a message names it: "the API port of vault-2". */
  readonly by: string;
  readonly kind: 'api' | 'metrics' | 'service';
}

/** The highest node API port (the defaults of the other ports follow it). */
function highestApiPort(p: ParsedSpec, nodes: readonly NodeSpec[]): number {
  return nodes.length > 0 ? Math.max(...nodes.map((n) => n.apiPort)) : p.apiPortBase - 2;
}

/** The endpoint's host ports: the one after the nodes' by default; the standby one only with standby reads. */
export function endpointPorts(
  p: ParsedSpec,
  nodes: readonly NodeSpec[],
): { endpointPort: number; standbyPort: number | undefined } {
  const endpointPort = p.endpoint.port ?? highestApiPort(p, nodes) + 2;
  return {
    endpointPort,
    standbyPort: p.standbyReads ? (p.endpoint.standbyPort ?? endpointPort + 1) : undefined,
  };
}

/** The dev KMS' host port: after the endpoint's two. */
export function devKmsPort(p: ParsedSpec, nodes: readonly NodeSpec[]): number {
  return p.seal.devKms.port ?? highestApiPort(p, nodes) + 4;
}

/** The transit unsealer's host port (as src/spec/names.ts computes it for the resolved spec). */
function unsealerPortOf(p: ParsedSpec, nodes: readonly NodeSpec[]): number {
  return p.seal.transit?.unsealerPort ?? highestApiPort(p, nodes) + 4;
}

/** Every host port the spec publishes, in the order a clash is reported (the later one is named). */
export function publishedPorts(
  p: ParsedSpec,
  nodes: readonly NodeSpec[],
  sealType: SealType,
): PublishedPort[] {
  const nodePath = (i: number) => (p.nodes ? `nodes.${i}.apiPort` : 'apiPortBase');
  const { endpointPort, standbyPort } = endpointPorts(p, nodes);
  const list: PublishedPort[] = [
    ...nodes.map((n, i) => ({
      port: n.apiPort,
      path: nodePath(i),
      by: `the API port of ${n.name}`,
      kind: 'api' as const,
    })),
    ...nodes.map((n, i) => ({
      port: n.apiPort + 1,
      path: nodePath(i),
      by: `the metrics port of ${n.name} (its API port + 1)`,
      kind: 'metrics' as const,
    })),
    { port: p.monitoring.port, path: 'monitoring.port', by: 'the Prometheus port', kind: 'service' },
  ];
  if (p.endpoint.enabled) {
    list.push({ port: endpointPort, path: 'endpoint.port', by: "the endpoint's port", kind: 'service' });
    if (standbyPort !== undefined)
      list.push({
        port: standbyPort,
        path: 'endpoint.standbyPort',
        by: "the endpoint's standby port",
        kind: 'service',
      });
  }
  if (sealType === 'transit' && !p.seal.transit?.address)
    list.push({
      port: unsealerPortOf(p, nodes),
      path: 'seal.transit.unsealerPort',
      by: "the transit unsealer's port",
      kind: 'service',
    });
  if (p.seal.devKms.enabled)
    list.push({
      port: devKmsPort(p, nodes),
      path: 'seal.devKms.port',
      by: "the dev KMS' port",
      kind: 'service',
    });
  return list;
}

/**
 * One problem per published port that another one already uses, at the later one's path. Two
 * node API ports are left to the node rule (it names both nodes); a port above 65535 to the range
 * rules.
 */
export function portClashes(p: ParsedSpec, nodes: readonly NodeSpec[], sealType: SealType): SpecProblem[] {
  const problems: SpecProblem[] = [];
  const seen: PublishedPort[] = [];
  for (const entry of publishedPorts(p, nodes, sealType)) {
    const first = seen.find((s) => s.port === entry.port);
    if (!first) {
      seen.push(entry);
      continue;
    }
    // Two nodes' API (and so metrics) ports alike: the node rule names both nodes.
    if (first.kind !== 'service' && first.kind === entry.kind) continue;
    const what = entry.kind === 'metrics' ? ` (${entry.by})` : '';
    problems.push({ path: entry.path, message: `port ${entry.port}${what} is ${first.by}` });
  }
  return problems;
}
