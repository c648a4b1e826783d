/**
 * The cluster spec's shape: the zod schema of `vaultctl.yaml` (types, ranges, defaults), the
 * resolved `ClusterSpec` type, and the constants the rest of vaultctl builds on. Cross-field rules
 * live in resolve.ts, the sources and their precedence in load.ts.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { backupSchema } from './backup.js';
import { securitySchema } from './security-schema.js';

/** Versions vaultctl is tested with. scripts/setup.sh installs the same (config/versions.env). */
export const PINNED = {
  openbao: '2.7.2',
  /**
   * The OpenBao release before it, installed beside it: the last one with the cloud KMS seals
   * (awskms, ...) built in, and the version `vaultctl upgrade` is tested from.
   */
  openbaoPrevious: '2.6.2',
  vault: '1.20.4',
  /** Debian 12's prometheus (and promtool): the version the rules and the monitoring tests run on. */
  prometheus: '2.42.0',
  /** Debian 12's haproxy: the active-node endpoint's image is built from it on hosts without a registry. */
  haproxy: '2.6.12',
  /** moto's server (PyPI moto[server]): a local AWS KMS API for the awskms seal's tests and `up --dev-kms`. */
  moto: '5.2.1',
} as const;

export const FLAVORS = ['openbao', 'vault'] as const;
export type Flavor = (typeof FLAVORS)[number];
export const SEAL_TYPES = ['static', 'shamir', 'awskms', 'transit'] as const;
export type SealType = (typeof SEAL_TYPES)[number];
/** Seals that unseal a node without a human: the node needs no key typed in after a restart. */
export const AUTO_SEALS: readonly SealType[] = ['static', 'awskms', 'transit'];

/** Cluster and node names: DNS labels (they become container names and hostnames). */
export const dnsLabel = /^[a-z][a-z0-9-]{0,30}[a-z0-9]$/;
const duration = z
  .string()
  .regex(/^\d+(ms|s|m|h)$/, 'expected a duration such as 10s, 5m or 24h')
  .describe('duration');
const port = z.number().int().min(1).max(65535);
/** A Kubernetes resource quantity: 250m, 1, 512Mi, 10Gi. */
const quantity = z
  .string()
  .regex(
    /^\d+(\.\d+)?(m|k|Ki|M|Mi|G|Gi|T|Ti)?$/,
    'expected a Kubernetes quantity such as 250m, 512Mi or 10Gi',
  );

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
  /**
   * The server version, when no image is given: the image becomes <upstream>:<version> (or the
   * local vaultctl/<flavor>:<version> that `image build` made). With an image, its tag must agree.
   */
  version: z
    .string()
    .regex(/^\d+\.\d+\.\d+$/, 'expected a server version such as 2.6.2')
    .optional(),
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
          /**
           * An AWS shared credentials file on this host (0600), mounted read-only into each node
           * and named by AWS_SHARED_CREDENTIALS_FILE there; AWS_PROFILE picks the profile. The
           * alternative to AWS_* variables; its contents never reach a rendered file.
           */
          credentialsFile: z
            .string()
            .regex(/^\//, 'expected an absolute path (the file is bind-mounted into each node)')
            .optional(),
          /**
           * An external KMS plugin (OpenBao >= 2.6; required from 2.7, which has no built-in awskms):
           * the binary on this host, baked into the server image by `vaultctl image build
           * --kms-plugin`, and its SHA-256, which the server checks before it runs it.
           */
          plugin: z
            .strictObject({
              binary: z.string().min(1),
              sha256: z.string().regex(/^[0-9a-f]{64}$/, 'expected the SHA-256 as 64 lowercase hex digits'),
            })
            .optional(),
        })
        .optional(),
      /**
       * Development only: `up` runs moto's KMS server on the cluster network and creates the key;
       * the seal then needs no seal.awskms (an in-memory key: removing the container loses the data).
       */
      devKms: z
        .strictObject({
          enabled: z.boolean().default(false),
          /** Host port (127.0.0.1) vaultctl creates the key through; default after the endpoint's. */
          port: port.optional(),
          image: z.string().min(1).optional(),
        })
        .prefault({}),
      transit: z
        .strictObject({
          /**
           * An existing transit server. Absent: `vaultctl up` runs the cluster's own "unsealer"
           * OpenBao (its own container, volume and state) and gives the nodes a token for it.
           */
          address: z.string().url().optional(),
          keyName: z.string().min(1).default('vaultctl-autounseal'),
          mountPath: z.string().min(1).default('transit/'),
          tlsCaCert: z.string().optional(),
          /**
           * With `address`: a file holding the nodes' token (else VAULTCTL_TRANSIT_TOKEN). It
           * reaches the node containers through their environment, never argv or the HCL.
           */
          tokenFile: z.string().min(1).optional(),
          /**
           * The period of the token the unsealer issues to the nodes (they renew it themselves, and
           * the agent renews it at two thirds of its period).
           */
          tokenPeriod: duration.default('24h'),
          /** The unsealer's API port on 127.0.0.1; default 4 above the highest node API port. */
          unsealerPort: port.optional(),
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
      /** Life of the node certificates vaultctl issues, in whole days (openssl -days). */
      nodeCertValidity: z
        .string()
        .regex(/^[1-9]\d*d$/, 'expected a number of days such as 397d')
        .default('397d'),
      /** `health` is degraded when a served certificate expires within this; the agent renews before. */
      expiryWarning: z
        .string()
        .regex(/^\d+d$/, 'expected a number of days such as 30d')
        .default('30d'),
      /** How often the agent compares the served certificates' expiry with now (renewal job). */
      renewCheck: duration.default('1h'),
    })
    .prefault({}),
  audit: z
    .strictObject({
      enabled: z.boolean().default(true),
      file: z
        .string()
        .regex(/^[A-Za-z0-9._-]+$/, 'expected a file name (no slashes)')
        .default('audit.log'),
      /** Rotated (compressed) files older than this are removed: the seed's 90 days (SOC 2). */
      retention: z
        .string()
        .regex(/^\d+d$/, 'expected a number of days such as 90d')
        .default('90d'),
      /** Rotate the live file when it reaches this size. */
      rotateSize: z
        .string()
        .regex(/^\d+(B|KiB|MiB|GiB)$/, 'expected a size such as 256MiB')
        .default('256MiB'),
      /** Rotate the live file when its first entry is this old. */
      rotateAge: duration.default('24h'),
      /** Compressed files kept at most (besides the retention in days). */
      keep: z.number().int().min(1).default(1000),
      /**
       * A second device that ships each entry to a log receiver (the seed's syslog path), beside the
       * file device: with two devices a request succeeds when either logs it. OpenBao 2.7.2 tests a
       * declared device when it unseals and fails its post-unseal setup when the receiver does not
       * answer then (measured): the receiver must be up before the nodes start.
       */
      socket: z
        .strictObject({
          /** host:port of the receiver, as the nodes reach it (e.g. the cluster network alias). */
          address: z.string().regex(/^[A-Za-z0-9.-]+:\d{1,5}$/, 'expected host:port'),
          socketType: z.enum(['tcp', 'udp']).default('tcp'),
        })
        .optional(),
    })
    .prefault({}),
  telemetry: z
    .strictObject({
      prometheusRetentionTime: duration.default('30s'),
      disableHostname: z.boolean().default(true),
      unauthenticatedMetricsAccess: z.boolean().default(false),
    })
    .prefault({}),
  agent: z
    .strictObject({
      /**
       * `vaultctl up` also runs `vaultctl agent` as `<cluster>-agent` on the cluster network
       * (`up --agent` turns it on); it needs a backup section.
       */
      enabled: z.boolean().default(false),
      /** Default vaultctl/agent:<version>-<build>, built by `up` from this host's node and the built project. */
      image: z.string().min(1).optional(),
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
      /**
       * Disk watch of each node's audit and raft volumes: `health` is degraded, and the agent's
       * VaultAuditDiskFilling / VaultRaftDiskFilling fire, when a volume's filesystem is this full
       * (percent) or would be full within `diskMinTimeToFull` at the current growth rate.
       */
      diskMaxUsedPercent: z.number().positive().max(100).default(80),
      diskMinTimeToFull: duration.default('24h'),
    })
    .prefault({}),
  endpoint: z
    .strictObject({
      /**
       * One stable address for applications: an HAProxy container on the cluster network that
       * passes TLS through to the active node only (health-checked on /v1/sys/health).
       */
      enabled: z.boolean().default(true),
      /** Default haproxy:<pinned>; hosts without a registry build vaultctl/haproxy:<version>. */
      image: z.string().min(1).optional(),
      /** Host port on bindAddress; default the port after the nodes' (the highest node API port + 2). */
      port: port.optional(),
      /** With `standbyReads`: a second port that spreads requests over every unsealed node. */
      standbyPort: port.optional(),
      /** How often HAProxy checks each node; a failover through the endpoint adds about this much. */
      checkInterval: duration.default('250ms'),
    })
    .prefault({}),
  /**
   * Off (the default): standbys forward every request to the active node (`disable_standby_reads`),
   * so a write acknowledged through any node is read back through any node. On: standbys answer
   * reads from their own state, which lags the leader by tens of milliseconds (scale-out reads,
   * eventually consistent).
   */
  standbyReads: z.boolean().default(false),
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
  /** Only `vaultctl render --target kubernetes|helm-values` reads this: a Docker cluster has no use for it. */
  kubernetes: z
    .strictObject({
      /** The namespace of every manifest; default the cluster name. */
      namespace: z
        .string()
        .regex(dnsLabel, 'expected a DNS label (lowercase letters, digits, dashes)')
        .optional(),
      /** The storage class of the data and audit claims; default the cluster's default class. */
      storageClass: z.string().min(1).optional(),
      dataSize: quantity.default('10Gi'),
      auditSize: quantity.default('10Gi'),
      resources: z
        .strictObject({
          cpuRequest: quantity.default('250m'),
          memoryRequest: quantity.default('256Mi'),
          cpuLimit: quantity.default('1'),
          memoryLimit: quantity.default('512Mi'),
        })
        .prefault({}),
      /** The pods' user: above 10000, so it matches no user of the node (checkov CKV_K8S_40). */
      runAsUser: z.number().int().min(1).default(10001),
      /** The pods' group, also the volumes' (fsGroup): the server reads its secrets and writes its claims through it. */
      runAsGroup: z.number().int().min(1).default(10001),
    })
    .prefault({}),
  /** Who the containers run as, and their memory and process limits (security-schema.ts). */
  security: securitySchema,
  ui: z.boolean().default(true),
  /** Scheduled, encrypted, verified backups run by `vaultctl agent` (src/spec/backup.ts). */
  backup: backupSchema.optional(),
  logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error']).default('info'),
});

export type SpecInput = z.input<typeof specInputSchema>;
/** What the schema makes of the input: defaults filled in, cross-field rules not yet applied. */
export type ParsedSpec = z.output<typeof specInputSchema>;

export interface NodeSpec {
  /** Node name, raft node_id, container hostname and network alias: vault-1, vault-2, ... */
  readonly name: string;
  /** API port published on the host (bindAddress). Inside the network every node listens on 8200. */
  readonly apiPort: number;
}

/** A validated, fully defaulted cluster spec. */
export interface ClusterSpec
  extends Omit<
    ParsedSpec,
    'nodes' | 'nodeCount' | 'apiPortBase' | 'seal' | 'image' | 'monitoring' | 'endpoint' | 'agent'
  > {
  /**
   * What the user chose (every source merged), before defaults and derived values. This, not the
   * resolved spec, is what the state dir remembers: derived values (seal type from the flavor,
   * autopilot min quorum from the node count) must follow their inputs on the next run.
   */
  readonly input: Readonly<Record<string, unknown>>;
  readonly image: string;
  /**
   * The version the server image runs: from `version`, or the image's tag when it is one
   * (openbao/openbao:2.6.2); undefined for a tag that names no version (latest, a digest).
   */
  readonly serverVersion: string | undefined;
  readonly nodes: readonly NodeSpec[];
  readonly seal: ParsedSpec['seal'] & {
    readonly type: SealType;
    readonly devKms: ParsedSpec['seal']['devKms'] & { readonly port: number; readonly image: string };
  };
  readonly monitoring: ParsedSpec['monitoring'] & { readonly image: string };
  /** The agent container; `image` is empty unless it is enabled (its default tag hashes the built project). */
  readonly agent: ParsedSpec['agent'] & { readonly image: string };
  readonly endpoint: ParsedSpec['endpoint'] & {
    readonly image: string;
    readonly port: number;
    /** Only with `standbyReads`. */
    readonly standbyPort?: number;
  };
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

export function defaultImage(flavor: Flavor, version?: string): string {
  return flavor === 'openbao'
    ? `openbao/openbao:${version ?? PINNED.openbao}`
    : `hashicorp/vault:${version ?? PINNED.vault}`;
}

/** The image vaultctl builds from a host binary for a version (what `image build` tags by default). */
export function localImage(flavor: Flavor, version: string): string {
  return `vaultctl/${flavor}:${version}`;
}

/** The version an image's tag names (`openbao/openbao:2.6.2`, `x:v2.7.2`), if it names one. */
export function versionOfImage(ref: string): string | undefined {
  const at = ref.indexOf('@');
  const name = at >= 0 ? ref.slice(0, at) : ref;
  const colon = name.lastIndexOf(':');
  if (colon < 0 || name.slice(colon).includes('/')) return undefined;
  const m = /^v?(\d+\.\d+\.\d+)$/.exec(name.slice(colon + 1));
  return m?.[1];
}

/** The dev KMS image: built by scripts/setup.sh from the host's Python and a pip --target of moto[server]. */
export function defaultMotoImage(): string {
  return `vaultctl/moto:${PINNED.moto}`;
}

export function defaultHaproxyImage(): string {
  return `haproxy:${PINNED.haproxy}`;
}

export function defaultPrometheusImage(): string {
  return `prom/prometheus:v${PINNED.prometheus}`;
}

export function quorumOf(nodeCount: number): number {
  return Math.floor(nodeCount / 2) + 1;
}
