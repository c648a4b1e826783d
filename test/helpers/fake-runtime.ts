/**
 * An in-memory `ContainerRuntime` for unit tests of use cases (up, down, drills): containers,
 * networks and volumes live in maps, every call is recorded, and any call can be made to fail.
 * It implements the port only, and behaves as the Docker adapter does at the edges the contract
 * suite checks (test/helpers/runtime-contract.ts): removing a missing container, volume or network
 * is not an error; creating from a missing image is; a volume or network in use cannot be removed.
 */
import type {
  BuildImageRequest,
  ContainerInfo,
  ContainerRuntime,
  ContainerSpec,
  ContainerState,
  PartitionMethod,
  ResourceInfo,
} from '../../src/runtime/port.js';

interface FakeContainer {
  spec: ContainerSpec;
  state: ContainerState;
}

type Method = keyof ContainerRuntime & string;

function matches(labels: Readonly<Record<string, string>>, want: Readonly<Record<string, string>>): boolean {
  return Object.entries(want).every(([k, v]) => labels[k] === v);
}

export class FakeRuntime implements ContainerRuntime {
  readonly description = 'in-memory fake runtime';
  readonly containers = new Map<string, FakeContainer>();
  readonly networks = new Map<string, ResourceInfo>();
  readonly volumes = new Map<string, ResourceInfo>();
  readonly images = new Set<string>();
  /** Every call, as "method target". */
  readonly calls: string[] = [];
  private readonly failures: { method: Method; target?: string; error: Error }[] = [];
  /** Called after each successful call (e.g. to abort a run half-way). */
  onCall?: (method: Method, target: string) => void;

  constructor(images: readonly string[] = []) {
    for (const i of images) this.images.add(i);
  }

  /** Makes the next call of `method` (on `target`, if given) throw `error`. */
  failOn(method: Method, target: string | undefined, error: Error): void {
    this.failures.push({ method, ...(target !== undefined ? { target } : {}), error });
  }

  private record(method: Method, target = ''): void {
    const i = this.failures.findIndex(
      (f) => f.method === method && (f.target === undefined || f.target === target),
    );
    if (i >= 0) {
      const [f] = this.failures.splice(i, 1);
      this.calls.push(`${method} ${target} (failed)`);
      throw f!.error;
    }
    this.calls.push(`${method} ${target}`.trimEnd());
    this.onCall?.(method, target);
  }

  private container(name: string): FakeContainer {
    const c = this.containers.get(name);
    if (!c) throw new Error(`no such container: ${name}`);
    return c;
  }

  async ping(): Promise<void> {
    this.record('ping');
  }
  async imageExists(ref: string): Promise<boolean> {
    this.record('imageExists', ref);
    return this.images.has(ref);
  }
  async pullImage(ref: string): Promise<void> {
    this.record('pullImage', ref);
    this.images.add(ref);
  }
  async buildImage(req: BuildImageRequest): Promise<string> {
    this.record('buildImage', req.tag);
    this.images.add(req.tag);
    return `sha256:${req.tag}`;
  }
  async listContainers(labels: Readonly<Record<string, string>>): Promise<ContainerInfo[]> {
    this.record('listContainers');
    return [...this.containers.values()]
      .filter((c) => matches(c.spec.labels, labels))
      .map((c) => ({
        id: `id-${c.spec.name}`,
        name: c.spec.name,
        image: c.spec.image,
        state: c.state,
        labels: { ...c.spec.labels },
      }));
  }
  async createContainer(spec: ContainerSpec): Promise<void> {
    this.record('createContainer', spec.name);
    if (this.containers.has(spec.name)) throw new Error(`container name ${spec.name} in use`);
    if (!this.images.has(spec.image)) throw new Error(`no such image: ${spec.image}`);
    this.containers.set(spec.name, { spec, state: 'created' });
  }
  async startContainer(name: string): Promise<void> {
    this.record('startContainer', name);
    this.container(name).state = 'running';
  }
  async stopContainer(name: string): Promise<void> {
    this.record('stopContainer', name);
    this.container(name).state = 'exited';
  }
  async killContainer(name: string): Promise<void> {
    this.record('killContainer', name);
    this.container(name).state = 'exited';
  }
  async pauseContainer(name: string): Promise<void> {
    this.record('pauseContainer', name);
    this.container(name).state = 'paused';
  }
  async unpauseContainer(name: string): Promise<void> {
    this.record('unpauseContainer', name);
    this.container(name).state = 'running';
  }
  async removeContainer(name: string): Promise<void> {
    this.record('removeContainer', name);
    // Docker's adapter ignores the 404 of a missing container.
    this.containers.delete(name);
  }
  async partitionContainer(name: string): Promise<PartitionMethod> {
    this.record('partitionContainer', name);
    return 'network';
  }
  async healPartition(name: string): Promise<void> {
    this.record('healPartition', name);
  }
  async containerLogs(name: string): Promise<string> {
    this.record('containerLogs', name);
    return `log of ${name}\n`;
  }
  /** What `runImage` answers per image (default: exit 0, no output). */
  readonly imageRuns = new Map<string, { exitCode: number; output: string }>();
  readonly labelsOfImages = new Map<string, Record<string, string>>();
  async runImage(image: string): Promise<{ exitCode: number; output: string }> {
    this.record('runImage', image);
    if (!this.images.has(image)) throw new Error(`no such image: ${image}`);
    return this.imageRuns.get(image) ?? { exitCode: 0, output: '' };
  }
  async imageLabels(ref: string): Promise<Record<string, string> | undefined> {
    this.record('imageLabels', ref);
    return this.images.has(ref) ? { ...(this.labelsOfImages.get(ref) ?? {}) } : undefined;
  }
  async listNetworks(labels: Readonly<Record<string, string>>): Promise<ResourceInfo[]> {
    this.record('listNetworks');
    return [...this.networks.values()].filter((n) => matches(n.labels, labels));
  }
  async createNetwork(name: string, labels: Readonly<Record<string, string>>): Promise<void> {
    this.record('createNetwork', name);
    this.networks.set(name, { name, labels: { ...labels } });
  }
  async removeNetwork(name: string): Promise<void> {
    this.record('removeNetwork', name);
    const on = [...this.containers.values()].find(
      (c) => c.spec.network.name === name && ['running', 'paused', 'restarting'].includes(c.state),
    );
    if (on) throw new Error(`network ${name} has active endpoints (${on.spec.name})`);
    this.networks.delete(name);
  }
  async listVolumes(labels: Readonly<Record<string, string>>): Promise<ResourceInfo[]> {
    this.record('listVolumes');
    return [...this.volumes.values()].filter((v) => matches(v.labels, labels));
  }
  async createVolume(name: string, labels: Readonly<Record<string, string>>): Promise<void> {
    this.record('createVolume', name);
    this.volumes.set(name, { name, labels: { ...labels } });
  }
  async removeVolume(name: string): Promise<void> {
    this.record('removeVolume', name);
    const user = [...this.containers.values()].find((c) =>
      c.spec.mounts.some((m) => m.type === 'volume' && m.name === name),
    );
    if (user) throw new Error(`volume ${name} is in use by ${user.spec.name}`);
    this.volumes.delete(name);
  }
}

/**
 * The port preflight for unit tests against this runtime: every host port is free. The real probe
 * binds each port, so a unit test whose spec shares ports with an integration test running beside
 * it would fail for that alone.
 */
export const everyPortFree = async (): Promise<boolean> => true;
