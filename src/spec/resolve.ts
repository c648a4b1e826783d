/**
 * `resolveSpec`: validation as a whole before anything touches Docker. Two passes: the zod schema
 * (types, ranges; schema-pass.ts), then cross-field rules (odd node count, unique ports, threshold
 * <= shares, flavor/seal compatibility), which run even when the schema refused something. Every
 * problem is reported at once with its dotted path.
 */

import { ConfigError } from '../errors.js';
import { defaultAgentImage } from '../image/agent-tag.js';
import { backupRules } from './backup.js';
import { CONTAINER_KMS_PORT, DEV_KMS_HOST, DEV_KMS_REGION, devKmsKeyAlias } from './dev-kms-names.js';
import { devKmsPort, endpointPorts, portClashes } from './port-rules.js';
import {
  type ClusterSpec,
  defaultHaproxyImage,
  defaultImage,
  defaultMotoImage,
  defaultPrometheusImage,
  type NodeSpec,
  type ParsedSpec,
  type SealType,
  type SpecProblem,
  type SpecResult,
  versionOfImage,
} from './schema.js';
import { readsOnlyAccepted, schemaPass } from './schema-pass.js';
import { sealFindings, serverRules } from './seal-rules.js';

/** A cross-field problem and the dotted paths of the values it was judged on. */
interface RuleProblem extends SpecProblem {
  readonly reads: readonly string[];
}

/**
 * Validates an input object and returns the resolved spec, or throws ConfigError with every
 * problem: the schema's and the cross-field rules' together, so one run shows them all.
 */
export function resolveSpec(input: unknown, doing = 'validating the cluster spec'): SpecResult {
  const schema = schemaPass(input);
  const p = schema.data;
  const rules = p
    ? ruleProblems(p, nodesOf(p), sealTypeOf(p)).filter((r) => readsOnlyAccepted(schema.refused, r.reads))
    : [];
  const problems = [...schema.problems, ...rules.map(({ path, message }) => ({ path, message }))];
  if (!p || problems.length > 0) {
    throw new ConfigError(
      doing,
      problems,
      schema.problems.length > 0
        ? 'fix the fields above in vaultctl.yaml, the VAULTCTL_* environment or the flags; see config/vaultctl.example.yaml'
        : 'fix the fields above; every problem is listed, nothing was changed',
    );
  }
  const nodes = nodesOf(p);
  const sealType = sealTypeOf(p);
  const endpoint = endpointPorts(p, nodes);
  const minQuorum = p.raft.autopilot.minQuorum ?? nodes.length;
  const warnings: string[] = sealFindings(serverRules(p.flavor, serverVersionOf(p)), {
    type: sealType,
    plugin: p.seal.awskms?.plugin !== undefined,
  })
    .filter((f) => f.severity === 'warning')
    .map((f) => `${f.path}: ${f.message}`);

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
    image: p.image ?? defaultImage(p.flavor, p.version),
    serverVersion: serverVersionOf(p),
    nodes,
    seal: {
      ...p.seal,
      type: sealType,
      ...(p.seal.devKms.enabled ? { awskms: devKmsSeal(p.name) } : {}),
      devKms: {
        ...p.seal.devKms,
        port: devKmsPort(p, nodes),
        image: p.seal.devKms.image ?? defaultMotoImage(),
      },
    },
    monitoring: { ...p.monitoring, image: p.monitoring.image ?? defaultPrometheusImage() },
    agent: { ...p.agent, image: p.agent.image ?? (p.agent.enabled ? defaultAgentImage() : '') },
    endpoint: {
      ...p.endpoint,
      image: p.endpoint.image ?? defaultHaproxyImage(),
      port: endpoint.endpointPort,
      ...(endpoint.standbyPort !== undefined ? { standbyPort: endpoint.standbyPort } : {}),
    },
    raft: { ...p.raft, autopilot: { ...p.raft.autopilot, minQuorum } },
  };
  return { spec, warnings };
}

type Json = Record<string, unknown>;

function stripUndefined(v: Json): Json {
  return JSON.parse(JSON.stringify(v ?? {})) as Json;
}

function sealTypeOf(p: ParsedSpec): SealType {
  return p.seal.type ?? (p.seal.devKms.enabled ? 'awskms' : p.flavor === 'openbao' ? 'static' : 'shamir');
}

function serverVersionOf(p: ParsedSpec): string | undefined {
  return p.version ?? versionOfImage(p.image ?? defaultImage(p.flavor));
}

/** The dev KMS on the cluster network: moto's server under the alias `kms`, a key named after the cluster. */
function devKmsSeal(cluster: string): NonNullable<ParsedSpec['seal']['awskms']> {
  return {
    region: DEV_KMS_REGION,
    kmsKeyId: devKmsKeyAlias(cluster),
    endpoint: `http://${DEV_KMS_HOST}:${CONTAINER_KMS_PORT}`,
  };
}

function nodesOf(p: ParsedSpec): NodeSpec[] {
  return (
    p.nodes ??
    Array.from({ length: p.nodeCount }, (_, i) => ({
      name: `vault-${i + 1}`,
      apiPort: p.apiPortBase + 2 * i,
    }))
  );
}

/** The cross-field rules, each naming what it reads so that a refused input can skip it. */
function ruleProblems(p: ParsedSpec, nodes: readonly NodeSpec[], sealType: SealType): RuleProblem[] {
  const problems: RuleProblem[] = [];
  const add = (path: string, message: string, reads: readonly string[] = [path]) =>
    problems.push({ path, message, reads });
  // A node list generated from defaults standing in for a refused list says nothing about the user's.
  const countReads = p.nodes ? ['nodes'] : ['nodes', 'nodeCount'];
  const nodePortReads = p.nodes ? ['nodes'] : ['nodes', 'nodeCount', 'apiPortBase'];

  const where = p.nodes ? 'nodes' : 'nodeCount';
  if (nodes.length < 3 || nodes.length % 2 === 0) {
    add(
      where,
      `a Raft cluster needs an odd number of nodes, at least 3 (got ${nodes.length}): an even count adds no failure tolerance`,
      countReads,
    );
  }
  const seenNames = new Map<string, number>();
  const seenPorts = new Map<number, number>();
  nodes.forEach((n, i) => {
    const otherName = seenNames.get(n.name);
    if (otherName !== undefined)
      add(`nodes.${i}.name`, `duplicate node name "${n.name}" (also nodes.${otherName})`, ['nodes']);
    seenNames.set(n.name, i);
    const otherPort = seenPorts.get(n.apiPort);
    if (otherPort !== undefined) {
      add(
        p.nodes ? `nodes.${i}.apiPort` : 'apiPortBase',
        `port ${n.apiPort} is used by two nodes (${nodes[otherPort]?.name} and ${n.name})`,
        nodePortReads,
      );
    }
    seenPorts.set(n.apiPort, i);
    if (n.apiPort > 65535)
      add('apiPortBase', `node ${n.name} would get port ${n.apiPort}, above 65535`, nodePortReads);
  });

  if (p.image && p.version) {
    const tagged = versionOfImage(p.image);
    if (tagged !== p.version) {
      add(
        'version',
        `version ${p.version} and image ${p.image} disagree${tagged ? ` (its tag says ${tagged})` : ' (its tag names no version)'}: give one of them`,
        ['version', 'image'],
      );
    }
  }
  if (p.flavor === 'vault' && sealType === 'static') {
    add(
      'seal.type',
      'HashiCorp Vault has no "static" seal; use shamir, awskms or transit (static is OpenBao only)',
      ['flavor', 'seal.type'],
    );
  }
  const shareReads = ['seal.threshold', 'seal.shares'];
  if (p.seal.threshold > p.seal.shares) {
    add('seal.threshold', `threshold ${p.seal.threshold} is larger than shares ${p.seal.shares}`, shareReads);
  }
  if (p.seal.shares > 1 && p.seal.threshold < 2) {
    add('seal.threshold', 'with more than one share the threshold must be at least 2', shareReads);
  }
  if (p.seal.pgpKeys && p.seal.pgpKeys.length !== p.seal.shares) {
    add(
      'seal.pgpKeys',
      `needs one PGP key per share: ${p.seal.shares} shares, ${p.seal.pgpKeys.length} keys`,
      ['seal.pgpKeys', 'seal.shares'],
    );
  }
  const sealReads = ['flavor', 'seal.type'];
  if (p.seal.devKms.enabled && sealType !== 'awskms') {
    add(
      'seal.devKms',
      `the dev KMS serves the awskms seal, not ${sealType}: drop --dev-kms or use --seal awskms`,
      ['seal.devKms', ...sealReads],
    );
  }
  if (p.seal.devKms.enabled && p.seal.awskms) {
    add(
      'seal.awskms',
      'the dev KMS brings its own key and endpoint: remove seal.awskms, or turn seal.devKms off for a real KMS',
      ['seal.devKms', 'seal.awskms'],
    );
  }
  if (sealType === 'awskms' && !p.seal.awskms && !p.seal.devKms.enabled) {
    add('seal.awskms', 'seal type awskms needs seal.awskms.region and seal.awskms.kmsKeyId', [
      ...sealReads,
      'seal.awskms',
    ]);
  }
  // Transit without an address runs the cluster's own unsealer: an OpenBao on the static seal.
  if (sealType === 'transit' && !p.seal.transit?.address) {
    if (p.flavor === 'vault')
      add(
        'seal.transit.address',
        'the unsealer vaultctl runs for transit is an OpenBao on the static seal; with flavor vault give the address of an existing transit server',
        [...sealReads, 'seal.transit'],
      );
    if (p.seal.transit?.tokenFile)
      add(
        'seal.transit.tokenFile',
        'a token file is for an existing transit server (seal.transit.address); the unsealer issues its own token',
        [...sealReads, 'seal.transit'],
      );
  }
  for (const f of sealFindings(serverRules(p.flavor, serverVersionOf(p)), {
    type: sealType,
    plugin: p.seal.awskms?.plugin !== undefined,
  })) {
    if (f.severity === 'problem') add(f.path, f.message, f.reads);
  }
  // Autopilot prunes a dead server only while more than minQuorum remain: with the node count as the
  // floor, a dead node is removed once its replacement has joined, never shrinking the cluster.
  const minQuorum = p.raft.autopilot.minQuorum ?? nodes.length;
  const quorumReads = ['raft.autopilot', ...countReads];
  const nodeCountValid = nodes.length >= 3 && nodes.length % 2 === 1;
  if (
    p.raft.autopilot.cleanupDeadServers &&
    minQuorum < 3 &&
    (nodeCountValid || p.raft.autopilot.minQuorum !== undefined)
  ) {
    add('raft.autopilot.minQuorum', 'must be at least 3 when cleanupDeadServers is on', quorumReads);
  }
  if (p.raft.autopilot.minQuorum !== undefined && minQuorum > nodes.length) {
    add(
      'raft.autopilot.minQuorum',
      `min quorum ${minQuorum} is larger than the node count ${nodes.length}`,
      quorumReads,
    );
  }

  const portReads = ['endpoint', 'standbyReads', 'monitoring.port', 'seal', 'flavor', ...nodePortReads];
  for (const c of portClashes(p, nodes, sealType)) add(c.path, c.message, portReads);

  if (!p.tls.enabled && p.tls.requireClientCert) {
    add('tls.requireClientCert', 'mutual TLS needs TLS: set tls.enabled to true', [
      'tls.enabled',
      'tls.requireClientCert',
    ]);
  }
  if (p.backup) for (const b of backupRules(p.backup)) add(b.path, b.message, ['backup']);
  if (p.agent.enabled && !p.backup)
    add('agent.enabled', 'the agent container runs the backup section, and the spec has none', ['agent']);
  if (p.agent.enabled && (p.backup?.encryption?.gpgPublicKeys?.length ?? 0) > 0)
    add(
      'agent.enabled',
      'the agent container has no gpg: encrypt its snapshots to age recipients, or run `vaultctl agent` on the host',
      ['agent', 'backup'],
    );
  return problems;
}
