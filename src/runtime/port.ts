/**
 * The container runtime port. Use cases speak only these types; `DockerRuntime` (dockerode) is
 * one adapter, and a process or Kubernetes runtime can be added without touching a use case.
 */

export interface BindMount {
  readonly type: 'bind';
  /** Absolute path on the host. */
  readonly source: string;
  readonly target: string;
  readonly readOnly: boolean;
}

export interface VolumeMount {
  readonly type: 'volume';
  readonly name: string;
  readonly target: string;
}

export type Mount = BindMount | VolumeMount;

export interface PublishedPort {
  readonly hostIp: string;
  readonly hostPort: number;
  readonly containerPort: number;
}

export interface HealthcheckSpec {
  readonly test: readonly string[];
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly retries: number;
  readonly startPeriodMs: number;
}

/** Everything needed to create one node's container. Rendered once, used by every runtime. */
export interface ContainerSpec {
  readonly name: string;
  readonly hostname: string;
  readonly image: string;
  readonly entrypoint: readonly string[];
  readonly cmd: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  /**
   * Names of variables whose values come from the caller's environment when the container is
   * created (seal credentials): never written into rendered files or labels.
   */
  readonly passEnv: readonly string[];
  /**
   * Values vaultctl itself hands to the container (the transit seal's token): set at creation
   * only, never rendered into files, labels or the compose file.
   */
  readonly secretEnv?: Readonly<Record<string, string>>;
  readonly labels: Readonly<Record<string, string>>;
  readonly mounts: readonly Mount[];
  readonly ports: readonly PublishedPort[];
  readonly network: { readonly name: string; readonly aliases: readonly string[] };
  /** Absent: the image's own (an image without a shell or client binary has none to run). */
  readonly healthcheck?: HealthcheckSpec;
  /** User inside the container (uid[:gid]); absent: the image's own. */
  readonly user?: string;
  /** Least privilege (templates/hardening.ts fills it in for every container vaultctl runs). */
  readonly security?: ContainerSecurity;
  readonly restart: 'no' | 'unless-stopped' | 'always';
}

/** In-memory scratch space: options as for mount(8) of a tmpfs (size=, mode=, uid=, gid=). */
export interface TmpfsMount {
  readonly target: string;
  readonly options: string;
}

/**
 * What a container may do: which capabilities it keeps, whether its root filesystem is
 * writable, its memory and process limits, and who owns what it writes.
 */
export interface ContainerSecurity {
  /** Capabilities kept after every one is dropped (IPC_LOCK for Vault's mlock); usually none. */
  readonly capAdd: readonly string[];
  readonly readOnlyRootfs: boolean;
  /** Where it must write outside its volumes (the root filesystem being read-only). */
  readonly tmpfs: readonly TmpfsMount[];
  readonly noNewPrivileges: boolean;
  readonly memoryBytes: number;
  readonly pidsLimit: number;
  /**
   * Hands the container's volumes (and, when vaultctl runs as root, its bind-mounted sources) to
   * this numeric uid and gid before the container is created: volumes made by an earlier release
   * belong to root. `helperImage` (a static busybox) does the volumes' chown, once per creation.
   */
  readonly owner?: { readonly uid: number; readonly gid: number; readonly helperImage: string };
}

export type ContainerState = 'created' | 'running' | 'paused' | 'restarting' | 'exited' | 'dead' | 'removing';

export interface ContainerInfo {
  readonly id: string;
  readonly name: string;
  readonly image: string;
  readonly state: ContainerState;
  readonly labels: Readonly<Record<string, string>>;
}

export interface ResourceInfo {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
}

export interface ProgressEvent {
  /** Free text from the runtime, e.g. "Downloading" or a build step. */
  readonly status: string;
  readonly id?: string;
  readonly current?: number;
  readonly total?: number;
}

export interface BuildImageRequest {
  /** Directory holding the Dockerfile and everything it copies. */
  readonly contextDir: string;
  readonly files: readonly string[];
  readonly tag: string;
  readonly labels?: Readonly<Record<string, string>>;
}

/**
 * How a container was cut off from its peers:
 * - `peers`: packets between it and its peers are dropped inside its network namespace; the host
 *   (and so the client, through the published port) still reaches it. A true partition.
 * - `network`: it was disconnected from the cluster network; the client cannot reach it either.
 */
export type PartitionMethod = 'peers' | 'network';

/** What a throwaway container of `runImage` gets besides its command. */
export interface RunImageOptions {
  /** Named volumes mounted read-write (the audit helper works on a node's audit volume). */
  readonly volumes?: readonly {
    readonly volume: string;
    readonly target: string;
    readonly readOnly?: boolean;
  }[];
  /** uid[:gid]; absent: the image's own. */
  readonly user?: string;
}

export interface ContainerRuntime {
  /** A short name for messages, e.g. "Docker Engine at /var/run/docker.sock". */
  readonly description: string;
  ping(signal?: AbortSignal): Promise<void>;
  imageExists(ref: string): Promise<boolean>;
  pullImage(ref: string, onProgress?: (e: ProgressEvent) => void, signal?: AbortSignal): Promise<void>;
  buildImage(req: BuildImageRequest, onProgress?: (e: ProgressEvent) => void): Promise<string>;

  listContainers(labels: Readonly<Record<string, string>>): Promise<ContainerInfo[]>;
  createContainer(spec: ContainerSpec): Promise<void>;
  startContainer(name: string): Promise<void>;
  stopContainer(name: string, timeoutSeconds?: number): Promise<void>;
  killContainer(name: string, signal?: string): Promise<void>;
  pauseContainer(name: string): Promise<void>;
  unpauseContainer(name: string): Promise<void>;
  removeContainer(name: string): Promise<void>;
  /**
   * Cuts `name` off from the `peers` containers on `network` while it keeps running. Uses the
   * `peers` method when the runtime can (local engine, root, nsenter and iptables), else `network`.
   */
  partitionContainer(
    name: string,
    peers: readonly string[],
    network: string,
    prefer?: PartitionMethod,
  ): Promise<PartitionMethod>;
  /** Undoes `partitionContainer`; safe to call twice. */
  healPartition(
    name: string,
    peers: readonly string[],
    network: string,
    method: PartitionMethod,
  ): Promise<void>;
  containerLogs(name: string, tail: number): Promise<string>;
  /**
   * Runs `cmd` in a throwaway container of `image` (no network, removed afterwards) and returns
   * its exit code and output: what a binary inside an image says about itself (`bao version`).
   */
  runImage(
    image: string,
    entrypoint: readonly string[],
    cmd: readonly string[],
    timeoutMs?: number,
    opts?: RunImageOptions,
  ): Promise<{ readonly exitCode: number; readonly output: string }>;
  /** The labels of a local image; undefined when it is absent. */
  imageLabels(ref: string): Promise<Readonly<Record<string, string>> | undefined>;

  listNetworks(labels: Readonly<Record<string, string>>): Promise<ResourceInfo[]>;
  createNetwork(name: string, labels: Readonly<Record<string, string>>): Promise<void>;
  removeNetwork(name: string): Promise<void>;

  listVolumes(labels: Readonly<Record<string, string>>): Promise<ResourceInfo[]>;
  createVolume(name: string, labels: Readonly<Record<string, string>>): Promise<void>;
  removeVolume(name: string): Promise<void>;
}

export const LABELS = {
  cluster: 'io.vaultctl.cluster',
  node: 'io.vaultctl.node',
  kind: 'io.vaultctl.kind',
  configHash: 'io.vaultctl.config-hash',
} as const;
