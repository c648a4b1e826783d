/**
 * The cluster spec: what the user asks for, validated as a whole before anything touches Docker.
 *
 * Sources, in increasing precedence: built-in defaults, the spec saved by the last `up`/`render`
 * in the state dir, a `vaultctl.yaml` file, `VAULTCTL_*` environment variables, command flags.
 * Validation is two passes: the zod schema (types, ranges), then cross-field rules (odd node
 * count, unique ports, threshold <= shares, flavor/seal compatibility). Every problem is reported
 * at once with its dotted path.
 */
import { existsSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ConfigError } from '../errors.js';

/** Versions vaultctl is tested with. scripts/setup.sh installs the same (config/versions.env). */
export const PINNED = {
  openbao: '2.7.2',
  vault: '1.20.4',
  /** Debian 12's prometheus (and promtool): the version the rules and the monitoring tests run on. */
  prometheus: '2.42.0',
} as const;

export const FLAVORS = ['openbao', 'vault'] as const;
export type Flavor = (typeof FLAVORS)[number];
export const SEAL_TYPES = ['static', 'shamir', 'awskms', 'transit'] as const;
export type SealType = (typeof SEAL_TYPES)[number];
/** Seals that unseal a node without a human: the node needs no key typed in after a restart. */
export const AUTO_SEALS: readonly SealType[] = ['static', 'awskms', 'transit'];

const dnsLabel = /^[a-z][a-z0-9-]{0,30}[a-z0-9]$/;
const duration = z
  .string()
  .regex(/^\d+(ms|s|m|h)$/, 'expected a duration such as 10s, 5m or 24h')
  .describe('duration');
const port = z.number().int().min(1).max(65535);

const nodeInput = z.strictObject({
  name: z.string().regex(dnsLabel, 'expected a DNS label (lowercase letters, digits, dashes)'),
  apiPort: port,
});

/** The schema of `vaultctl.yaml` (and of the saved spec). All fields optional. */
export const specInputSchema = z.strictObject({
  name: z
    .string()
    .regex(dnsLabel, 'expected 2-32 lowercase letters, digits or dashes, starting with a letter')
    .default('alphapulse'),
  flavor: z.enum(FLAVORS).default('openbao'),
  image: z.string().min(1).optional(),
  bindAddress: z
    .string()
    .refine((s) => isIP(s) === 4, 'expected an IPv4 address such as 127.0.0.1')
    .default('127.0.0.1'),
  nodeCount: z.number().int().min(1).max(9).default(3),
  apiPortBase: port.default(8200),
  nodes: z.array(nodeInput).optional(),
  raft: z
    .strictObject({
      performanceMultiplier: z.number().int().min(1).max(10).default(1),
      autopilot: z
        .strictObject({
          cleanupDeadServers: z.boolean().default(true),
          deadServerLastContactThreshold: duration.default('10m'),
          serverStabilizationTime: duration.default('10s'),
          lastContactThreshold: duration.default('10s'),
          /**
           * How often autopilot acts (promotes stable non-voters, prunes dead servers). OpenBao's
           * default is 10s, which alone adds up to 10 s to every bootstrap and node replacement.
           */
          reconcileInterval: duration.default('2s'),
          /** How often autopilot refreshes its view of server health (failure tolerance). */
          updateInterval: duration.default('1s'),
          minQuorum: z.number().int().min(0).optional(),
        })
        .prefault({}),
    })
    .prefault({}),
  seal: z
    .strictObject({
      type: z.enum(SEAL_TYPES).optional(),
      shares: z.number().int().min(1).max(255).default(5),
      threshold: z.number().int().min(1).max(255).default(3),
      /** Paths of PGP public keys (base64 or binary) to encrypt the key shares to. */
      pgpKeys: z.array(z.string().min(1)).optional(),
      awskms: z
        .strictObject({
          region: z.string().min(1),
          kmsKeyId: z.string().min(1),
          endpoint: z.string().url().optional(),
        })
        .optional(),
      transit: z
        .strictObject({
          address: z.string().url(),
          keyName: z.string().min(1),
          mountPath: z.string().min(1).default('transit/'),
          tlsCaCert: z.string().optional(),
        })
        .optional(),
    })
    .prefault({}),
  tls: z
    .strictObject({
      /** TLS on every listener (API and raft joins). Off only for experiments: a warning is printed. */
      enabled: z.boolean().default(true),
      /** Mutual TLS: the API listener requires a client certificate signed by the cluster CA. */
      requireClientCert: z.boolean().default(false),
      /** Bring your own CA (PEM files): vaultctl issues the node certificates from it. */
      ca: z.strictObject({ certFile: z.string().min(1), keyFile: z.string().min(1) }).optional(),
    })
    .prefault({}),
  audit: z
    .strictObject({
      enabled: z.boolean().default(true),
      file: z
        .string()
        .regex(/^[A-Za-z0-9._-]+$/, 'expected a file name (no slashes)')
        .default('audit.log'),
    })
    .prefault({}),
  telemetry: z
    .strictObject({
      prometheusRetentionTime: duration.default('30s'),
      disableHostname: z.boolean().default(true),
      unauthenticatedMetricsAccess: z.boolean().default(false),
    })
    .prefault({}),
  monitoring: z
    .strictObject({
      /** `vaultctl up` also runs Prometheus on the cluster's network (`up --monitoring` turns it on). */
      enabled: z.boolean().default(false),
      /** Default prom/prometheus:v<pinned>; hosts without a registry build vaultctl/prometheus:<version>. */
      image: z.string().min(1).optional(),
      /** Prometheus' web port, published on 127.0.0.1 only. */
      port: port.default(9090),
      scrapeInterval: duration.default('15s'),
      evaluationInterval: duration.default('15s'),
      /** Replaces the `for` of every alert (short in test profiles, e.g. 5s); default: each alert's own. */
      alertFor: duration.optional(),
      /** VaultHighLatency fires when a node's p99 request time stays above this many milliseconds. */
      highLatencyMs: z.number().positive().default(100),
    })
    .prefault({}),
  kv: z
    .strictObject({
      path: z
        .string()
        .regex(/^[a-z][a-z0-9_-]*$/)
        .default('secret'),
    })
    .prefault({}),
  appRole: z
    .strictObject({
      enabled: z.boolean().default(true),
      roleName: z
        .string()
        .regex(/^[a-z][a-z0-9_-]*$/)
        .default('alphapulse-app'),
      tokenTtl: duration.default('1h'),
      tokenMaxTtl: duration.default('4h'),
    })
    .prefault({}),
  ui: z.boolean().default(true),
  logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error']).default('info'),
});

export type SpecInput = z.input<typeof specInputSchema>;
type ParsedSpec = z.output<typeof specInputSchema>;

export interface NodeSpec {
  /** Node name, raft node_id, container hostname and network alias: vault-1, vault-2, ... */
  readonly name: string;
  /** API port published on the host (bindAddress). Inside the network every node listens on 8200. */
  readonly apiPort: number;
}

/** A validated, fully defaulted cluster spec. */
export interface ClusterSpec
  extends Omit<ParsedSpec, 'nodes' | 'nodeCount' | 'apiPortBase' | 'seal' | 'image' | 'monitoring'> {
  /**
   * What the user chose (every source merged), before defaults and derived values. This, not the
   * resolved spec, is what the state dir remembers: derived values (seal type from the flavor,
   * autopilot min quorum from the node count) must follow their inputs on the next run.
   */
  readonly input: Readonly<Record<string, unknown>>;
  readonly image: string;
  readonly nodes: readonly NodeSpec[];
  readonly seal: ParsedSpec['seal'] & { readonly type: SealType };
  readonly monitoring: ParsedSpec['monitoring'] & { readonly image: string };
  readonly raft: ParsedSpec['raft'] & {
    readonly autopilot: ParsedSpec['raft']['autopilot'] & { readonly minQuorum: number };
  };
}

export interface SpecProblem {
  readonly path: string;
  readonly message: string;
}

export interface SpecResult {
  readonly spec: ClusterSpec;
  /** Things that are allowed but deserve a word (printed on stderr). */
  readonly warnings: readonly string[];
}

export const CONTAINER_API_PORT = 8200;
export const CONTAINER_CLUSTER_PORT = 8201;

export function defaultImage(flavor: Flavor): string {
  return flavor === 'openbao' ? `openbao/openbao:${PINNED.openbao}` : `hashicorp/vault:${PINNED.vault}`;
}

export function defaultPrometheusImage(): string {
  return `prom/prometheus:v${PINNED.prometheus}`;
}

export function quorumOf(nodeCount: number): number {
  return Math.floor(nodeCount / 2) + 1;
}

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
    raft: { ...p.raft, autopilot: { ...p.raft.autopilot, minQuorum } },
  };
  return { spec, warnings };
}

/** The layer the state dir remembers for this spec: the user's own choices (see ClusterSpec.input). */
export function specToInput(spec: ClusterSpec): SpecInput {
  return spec.input as SpecInput;
}

type Json = Record<string, unknown>;

function stripUndefined(v: Json): Json {
  return JSON.parse(JSON.stringify(v ?? {})) as Json;
}

function isPlainObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Deep merge for spec layers: objects merge, everything else (arrays included) replaces. */
export function mergeLayers(...layers: (Json | undefined)[]): Json {
  const out: Json = {};
  for (const layer of layers) {
    if (!layer) continue;
    for (const [k, v] of Object.entries(layer)) {
      if (v === undefined) continue;
      const prev = out[k];
      out[k] = isPlainObject(prev) && isPlainObject(v) ? mergeLayers(prev, v) : v;
    }
  }
  return out;
}

/** Reads a YAML spec file. A missing optional file gives undefined; a malformed one a ConfigError. */
export function readSpecFile(path: string): Json {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(
      'reading the cluster spec',
      [{ path, message: (err as Error).message }],
      'check the --config path',
    );
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new ConfigError(
      'reading the cluster spec',
      [{ path, message: `not valid YAML: ${(err as Error).message.split('\n')[0]}` }],
      'fix the YAML syntax; see config/vaultctl.example.yaml',
    );
  }
  if (doc === null || doc === undefined) return {};
  if (!isPlainObject(doc)) {
    throw new ConfigError('reading the cluster spec', [
      { path, message: 'expected a mapping at the top level' },
    ]);
  }
  return doc;
}

const ENV_MAP: readonly [string, string[], 'string' | 'int'][] = [
  ['VAULTCTL_CLUSTER', ['name'], 'string'],
  ['VAULTCTL_FLAVOR', ['flavor'], 'string'],
  ['VAULTCTL_IMAGE', ['image'], 'string'],
  ['VAULTCTL_SEAL', ['seal', 'type'], 'string'],
  ['VAULTCTL_NODES', ['nodeCount'], 'int'],
  ['VAULTCTL_API_PORT', ['apiPortBase'], 'int'],
  ['VAULTCTL_BIND_ADDRESS', ['bindAddress'], 'string'],
];

/** The spec layer given by VAULTCTL_* environment variables. */
export function specFromEnv(env: NodeJS.ProcessEnv): Json {
  const out: Json = {};
  for (const [name, path, kind] of ENV_MAP) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    const value = kind === 'int' && /^\d+$/.test(raw) ? Number(raw) : raw;
    let cur = out;
    path.slice(0, -1).forEach((k) => {
      cur[k] = (cur[k] as Json | undefined) ?? {};
      cur = cur[k] as Json;
    });
    cur[path[path.length - 1]!] = value;
  }
  return out;
}

export interface SpecSources {
  /** --config path; else VAULTCTL_CONFIG; else ./vaultctl.yaml when present. */
  readonly configPath?: string | undefined;
  readonly env: NodeJS.ProcessEnv;
  readonly flags: Json;
  readonly cwd: string;
  /** Reads the spec saved in the state dir of the named cluster, if any. */
  readonly readSaved?: (name: string) => Json | undefined;
}

/** Loads and validates the spec from every source (see the module comment for precedence). */
export function loadSpec(sources: SpecSources, doing?: string): SpecResult & { configFile?: string } {
  const explicit = sources.configPath ?? sources.env.VAULTCTL_CONFIG;
  const implicit = `${sources.cwd}/vaultctl.yaml`;
  const configFile = explicit ?? (existsSync(implicit) ? implicit : undefined);
  const fileLayer = configFile ? readSpecFile(configFile) : undefined;
  const envLayer = specFromEnv(sources.env);
  const upper = mergeLayers(fileLayer, envLayer, sources.flags);
  const name = typeof upper.name === 'string' ? upper.name : 'alphapulse';
  const saved = dnsLabel.test(name) ? sources.readSaved?.(name) : undefined;
  // A saved spec carries a resolved node list; a nodeCount/apiPortBase given now must win over it.
  const savedLayer =
    saved && (upper.nodeCount !== undefined || upper.apiPortBase !== undefined)
      ? { ...saved, nodes: undefined }
      : saved;
  const merged = mergeLayers(savedLayer, upper);
  const result = resolveSpec(merged, doing);
  return configFile ? { ...result, configFile } : result;
}
