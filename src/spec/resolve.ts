/**
 * `resolveSpec`: validation as a whole before anything touches Docker. Two passes: the zod schema
 * (types, ranges), then cross-field rules (odd node count, unique ports, threshold <= shares,
 * flavor/seal compatibility). Every problem is reported at once with its dotted path.
 */
import { ConfigError } from '../errors.js';
import {
  type ClusterSpec,
  defaultHaproxyImage,
  defaultImage,
  defaultPrometheusImage,
  type NodeSpec,
  type SealType,
  type SpecProblem,
  type SpecResult,
  specInputSchema,
} from './schema.js';

/** Validates an input object and returns the resolved spec, or throws ConfigError with every problem. */
export function resolveSpec(input: unknown, doing = 'validating the cluster spec'): SpecResult {
  const parsed = specInputSchema.safeParse(input ?? {});
  if (!parsed.success) {
    throw new ConfigError(
      doing,
      parsed.error.issues.flatMap((i) => {
        const base = i.path.map(String);
        // zod reports unknown keys at the parent; name each key so the user sees where it is.
        if (i.code === 'unrecognized_keys') {
          return i.keys.map((k) => ({ path: [...base, k].join('.'), message: 'unknown field' }));
        }
        return [{ path: base.join('.'), message: i.message }];
      }),
      'fix the fields above in vaultctl.yaml, the VAULTCTL_* environment or the flags; see config/vaultctl.example.yaml',
    );
  }
  const p = parsed.data;
  const problems: SpecProblem[] = [];
  const warnings: string[] = [];

  const nodes: NodeSpec[] =
    p.nodes ??
    Array.from({ length: p.nodeCount }, (_, i) => ({
      name: `vault-${i + 1}`,
      apiPort: p.apiPortBase + 2 * i,
    }));

  const where = p.nodes ? 'nodes' : 'nodeCount';
  if (nodes.length < 3 || nodes.length % 2 === 0) {
    problems.push({
      path: where,
      message: `a Raft cluster needs an odd number of nodes, at least 3 (got ${nodes.length}): an even count adds no failure tolerance`,
    });
  }
  const seenNames = new Map<string, number>();
  const seenPorts = new Map<number, number>();
  nodes.forEach((n, i) => {
    const otherName = seenNames.get(n.name);
    if (otherName !== undefined)
      problems.push({
        path: `nodes.${i}.name`,
        message: `duplicate node name "${n.name}" (also nodes.${otherName})`,
      });
    seenNames.set(n.name, i);
    const otherPort = seenPorts.get(n.apiPort);
    if (otherPort !== undefined) {
      problems.push({
        path: p.nodes ? `nodes.${i}.apiPort` : 'apiPortBase',
        message: `port ${n.apiPort} is used by two nodes (${nodes[otherPort]?.name} and ${n.name})`,
      });
    }
    seenPorts.set(n.apiPort, i);
    if (n.apiPort > 65535)
      problems.push({
        path: 'apiPortBase',
        message: `node ${n.name} would get port ${n.apiPort}, above 65535`,
      });
  });

  const sealType: SealType = p.seal.type ?? (p.flavor === 'openbao' ? 'static' : 'shamir');
  if (p.flavor === 'vault' && sealType === 'static') {
    problems.push({
      path: 'seal.type',
      message: 'HashiCorp Vault has no "static" seal; use shamir, awskms or transit (static is OpenBao only)',
    });
  }
  if (p.seal.threshold > p.seal.shares) {
    problems.push({
      path: 'seal.threshold',
      message: `threshold ${p.seal.threshold} is larger than shares ${p.seal.shares}`,
    });
  }
  if (p.seal.shares > 1 && p.seal.threshold < 2) {
    problems.push({
      path: 'seal.threshold',
      message: 'with more than one share the threshold must be at least 2',
    });
  }
  if (p.seal.pgpKeys && p.seal.pgpKeys.length !== p.seal.shares) {
    problems.push({
      path: 'seal.pgpKeys',
      message: `needs one PGP key per share: ${p.seal.shares} shares, ${p.seal.pgpKeys.length} keys`,
    });
  }
  if (sealType === 'awskms' && !p.seal.awskms) {
    problems.push({
      path: 'seal.awskms',
      message: 'seal type awskms needs seal.awskms.region and seal.awskms.kmsKeyId',
    });
  }
  if (sealType === 'transit' && !p.seal.transit) {
    problems.push({
      path: 'seal.transit',
      message: 'seal type transit needs seal.transit.address and seal.transit.keyName',
    });
  }
  // Autopilot prunes a dead server only while more than minQuorum remain: with the node count as the
  // floor, a dead node is removed once its replacement has joined, never shrinking the cluster.
  const minQuorum = p.raft.autopilot.minQuorum ?? nodes.length;
  const nodeCountValid = nodes.length >= 3 && nodes.length % 2 === 1;
  if (
    p.raft.autopilot.cleanupDeadServers &&
    minQuorum < 3 &&
    (nodeCountValid || p.raft.autopilot.minQuorum !== undefined)
  ) {
    problems.push({
      path: 'raft.autopilot.minQuorum',
      message: 'must be at least 3 when cleanupDeadServers is on',
    });
  }
  if (p.raft.autopilot.minQuorum !== undefined && minQuorum > nodes.length) {
    problems.push({
      path: 'raft.autopilot.minQuorum',
      message: `min quorum ${minQuorum} is larger than the node count ${nodes.length}`,
    });
  }

  const endpointPort = p.endpoint.port ?? p.apiPortBase + 2 * nodes.length;
  const standbyPort = p.standbyReads ? (p.endpoint.standbyPort ?? endpointPort + 1) : undefined;
  if (p.endpoint.enabled) {
    const taken = [
      ...nodes.map((n) => ({ port: n.apiPort, by: `the API port of ${n.name}` })),
      ...(p.monitoring.enabled ? [{ port: p.monitoring.port, by: 'the Prometheus port' }] : []),
    ];
    for (const [path, want] of [
      ['endpoint.port', endpointPort],
      ['endpoint.standbyPort', standbyPort],
    ] as const) {
      const clash = want === undefined ? undefined : taken.find((t) => t.port === want);
      if (clash) problems.push({ path, message: `port ${want} is ${clash.by}` });
    }
    if (standbyPort !== undefined && standbyPort === endpointPort)
      problems.push({
        path: 'endpoint.standbyPort',
        message: `port ${standbyPort} is the endpoint's own port`,
      });
  }

  const portOwner = nodes.find((n) => n.apiPort === p.monitoring.port);
  if (portOwner) {
    problems.push({
      path: 'monitoring.port',
      message: `port ${p.monitoring.port} is the API port of ${portOwner.name}`,
    });
  }

  if (!p.tls.enabled && p.tls.requireClientCert) {
    problems.push({
      path: 'tls.requireClientCert',
      message: 'mutual TLS needs TLS: set tls.enabled to true',
    });
  }

  if (problems.length > 0) {
    throw new ConfigError(
      doing,
      problems,
      'fix the fields above; every problem is listed, nothing was changed',
    );
  }

  if (p.bindAddress !== '127.0.0.1') {
    warnings.push(
      `API ports are published on ${p.bindAddress}, not only on loopback: anyone who reaches this address reaches the cluster over plain HTTP`,
    );
  }
  if (!p.tls.enabled) {
    warnings.push('TLS is off (tls.enabled: false): API traffic and raft joins travel in plain text');
  }
  if (p.telemetry.unauthenticatedMetricsAccess) {
    warnings.push(
      'telemetry.unauthenticatedMetricsAccess is on: /v1/sys/metrics answers without a token (development only)',
    );
  }
  if (p.raft.performanceMultiplier !== 1) {
    warnings.push(
      `raft.performanceMultiplier is ${p.raft.performanceMultiplier}: leader loss is noticed ${p.raft.performanceMultiplier}x slower than with 1 (the production recommendation)`,
    );
  }

  const { nodeCount: _n, apiPortBase: _b, nodes: _nodes, ...rest } = p;
  const spec: ClusterSpec = {
    input: stripUndefined(input as Json),
    ...rest,
    image: p.image ?? defaultImage(p.flavor),
    nodes,
    seal: { ...p.seal, type: sealType },
    monitoring: { ...p.monitoring, image: p.monitoring.image ?? defaultPrometheusImage() },
    endpoint: {
      ...p.endpoint,
      image: p.endpoint.image ?? defaultHaproxyImage(),
      port: endpointPort,
      ...(standbyPort !== undefined ? { standbyPort } : {}),
    },
    raft: { ...p.raft, autopilot: { ...p.raft.autopilot, minQuorum } },
  };
  return { spec, warnings };
}

type Json = Record<string, unknown>;

function stripUndefined(v: Json): Json {
  return JSON.parse(JSON.stringify(v ?? {})) as Json;
}
