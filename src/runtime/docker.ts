/**
 * DockerRuntime: the ContainerRuntime port on the Docker Engine API, through dockerode.
 * dockerode's types stay in this file.
 */
import { createRequire } from 'node:module';
import type Docker from 'dockerode';
import { RemoteError } from '../errors.js';
import { handOverMounts } from './docker-ownership.js';
import { createOptions, demuxDockerLog } from './docker-spec.js';
import type {
  BuildImageRequest,
  ContainerInfo,
  ContainerRuntime,
  ContainerSpec,
  ContainerState,
  PartitionMethod,
  ProgressEvent,
  ResourceInfo,
  RunImageOptions,
} from './port.js';

interface DockerodeError extends Error {
  statusCode?: number;
  code?: string;
  json?: { message?: string } | null;
  reason?: string;
}

/**
 * What the Engine said: its JSON message, else the body dockerode put in the error's message after
 * "(HTTP code N) <reason> - ", and only then the bare reason ("server error" tells nothing).
 */
export function engineMessage(e: DockerodeError): string | undefined {
  if (e.json?.message) return e.json.message;
  const body = e.message?.replace(/^\(HTTP code \d+\) [^-]*- /, '').trim();
  if (body && body !== e.message?.trim()) return body;
  return e.message || e.reason;
}

const ENGINE_HINT =
  'is the Docker Engine running? `bash scripts/setup.sh` installs and starts it; `docker info` shows what the client sees (DOCKER_HOST selects another engine)';

function labelFilter(labels: Readonly<Record<string, string>>): string[] {
  return Object.entries(labels).map(([k, v]) => `${k}=${v}`);
}

/**
 * execa only for the drill's firewall faults: loaded on first use, not by every command (it is a
 * tenth of a second of the CLI's start on a busy machine).
 */
const loadExeca = () => import('execa');

export class DockerRuntime implements ContainerRuntime {
  readonly description: string;
  private readonly docker: Docker;

  constructor(docker?: Docker) {
    // dockerode (CommonJS, with ssh2 and gRPC behind it) is the largest part of a command's start:
    // loaded when a runtime is made, which commands that only talk to the nodes (init, health) do
    // only on failure, for a node's log.
    this.docker = docker ?? new (createRequire(import.meta.url)('dockerode') as typeof Docker)();
    this.description = `Docker Engine at ${process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock'}`;
  }

  /** Wraps a dockerode failure in a RemoteError that says what we were doing. */
  private fail(doing: string, err: unknown): never {
    const e = err as DockerodeError;
    const cause = engineMessage(e) ?? String(err);
    const connection = ['ENOENT', 'ECONNREFUSED', 'EACCES', 'ECONNRESET', 'EPIPE'].includes(e.code ?? '');
    if (connection) {
      throw new RemoteError(doing, `cannot reach the ${this.description} (${e.code})`, ENGINE_HINT, {
        cause: err,
      });
    }
    let hint: string | undefined;
    if (/address already in use|port is already allocated/i.test(cause)) {
      hint =
        'another process holds that port: stop it, or choose other ports (apiPortBase in vaultctl.yaml or --api-port)';
    }
    throw new RemoteError(doing, cause.trim(), hint, { cause: err });
  }

  async ping(): Promise<void> {
    try {
      await this.docker.ping();
    } catch (err) {
      this.fail('connecting to Docker', err);
    }
  }

  async imageExists(ref: string): Promise<boolean> {
    try {
      await this.docker.getImage(ref).inspect();
      return true;
    } catch (err) {
      if ((err as DockerodeError).statusCode === 404) return false;
      this.fail(`inspecting image ${ref}`, err);
    }
  }

  private follow(stream: NodeJS.ReadableStream, onProgress?: (e: ProgressEvent) => void): Promise<unknown[]> {
    return new Promise((resolve, reject) => {
      this.docker.modem.followProgress(
        stream,
        (err: Error | null, out: unknown[]) => (err ? reject(err) : resolve(out)),
        (ev: {
          status?: string;
          stream?: string;
          id?: string;
          progressDetail?: { current?: number; total?: number };
        }) => {
          const status = (ev.status ?? ev.stream ?? '').trim();
          if (!status || !onProgress) return;
          const e: ProgressEvent = {
            status,
            ...(ev.id ? { id: ev.id } : {}),
            ...(ev.progressDetail?.current !== undefined ? { current: ev.progressDetail.current } : {}),
            ...(ev.progressDetail?.total !== undefined ? { total: ev.progressDetail.total } : {}),
          };
          onProgress(e);
        },
      );
    });
  }

  async pullImage(ref: string, onProgress?: (e: ProgressEvent) => void): Promise<void> {
    try {
      const stream = await this.docker.pull(ref);
      const out = (await this.follow(stream, onProgress)) as {
        error?: string;
        errorDetail?: { message?: string };
      }[];
      const failed = out.find((o) => o.error);
      if (failed) throw new Error(failed.errorDetail?.message ?? failed.error);
    } catch (err) {
      this.fail(`pulling image ${ref}`, err);
    }
  }

  async buildImage(req: BuildImageRequest, onProgress?: (e: ProgressEvent) => void): Promise<string> {
    let out: { error?: string; errorDetail?: { message?: string }; aux?: { ID?: string }; stream?: string }[];
    try {
      const stream = await this.docker.buildImage({ context: req.contextDir, src: [...req.files] }, {
        t: req.tag,
        labels: req.labels ? JSON.stringify(req.labels) : undefined,
        rm: true,
        forcerm: true,
      } as Docker.ImageBuildOptions);
      out = (await this.follow(stream, onProgress)) as typeof out;
    } catch (err) {
      this.fail(`building image ${req.tag}`, err);
    }
    const failed = out.find((o) => o.error);
    if (failed)
      throw new RemoteError(
        `building image ${req.tag}`,
        failed.errorDetail?.message ?? failed.error ?? 'build failed',
        "the cause is the Docker build's own message; docker info shows the Engine's state",
      );
    const id = out.find((o) => o.aux?.ID)?.aux?.ID;
    if (id) return id;
    const built = out.map((o) => /Successfully built ([0-9a-f]+)/.exec(o.stream ?? '')?.[1]).find(Boolean);
    if (built) return built;
    const inspected = await this.docker.getImage(req.tag).inspect();
    return inspected.Id;
  }

  async listContainers(labels: Readonly<Record<string, string>>): Promise<ContainerInfo[]> {
    try {
      const list = await this.docker.listContainers({ all: true, filters: { label: labelFilter(labels) } });
      return list.map((c) => ({
        id: c.Id,
        name: (c.Names[0] ?? c.Id).replace(/^\//, ''),
        image: c.Image,
        state: c.State as ContainerState,
        labels: c.Labels,
      }));
    } catch (err) {
      this.fail('listing containers', err);
    }
  }

  async createContainer(spec: ContainerSpec): Promise<void> {
    // Before it exists: its first start must find its volumes and files its own.
    await handOverMounts(this.docker, spec);
    try {
      await this.docker.createContainer(createOptions(spec));
    } catch (err) {
      this.fail(`creating container ${spec.name}`, err);
    }
  }

  async startContainer(name: string): Promise<void> {
    try {
      await this.docker.getContainer(name).start();
    } catch (err) {
      if ((err as DockerodeError).statusCode === 304) return; // already running
      this.fail(`starting container ${name}`, err);
    }
  }

  async stopContainer(name: string, timeoutSeconds = 10): Promise<void> {
    try {
      await this.docker.getContainer(name).stop({ t: timeoutSeconds });
    } catch (err) {
      if ((err as DockerodeError).statusCode === 304) return; // already stopped
      this.fail(`stopping container ${name}`, err);
    }
  }

  async killContainer(name: string, signal = 'SIGKILL'): Promise<void> {
    try {
      await this.docker.getContainer(name).kill({ signal });
    } catch (err) {
      this.fail(`killing container ${name}`, err);
    }
  }

  async pauseContainer(name: string): Promise<void> {
    try {
      await this.docker.getContainer(name).pause();
    } catch (err) {
      this.fail(`pausing container ${name}`, err);
    }
  }

  async unpauseContainer(name: string): Promise<void> {
    try {
      await this.docker.getContainer(name).unpause();
    } catch (err) {
      this.fail(`unpausing container ${name}`, err);
    }
  }

  async removeContainer(name: string): Promise<void> {
    try {
      await this.docker.getContainer(name).remove({ force: true, v: false });
    } catch (err) {
      if ((err as DockerodeError).statusCode === 404) return;
      this.fail(`removing container ${name}`, err);
    }
  }

  /** The container's process id and its address and aliases on `network`. */
  private async onNetwork(
    name: string,
    network: string,
  ): Promise<{ pid: number; ip?: string; aliases: string[] }> {
    try {
      const info = await this.docker.getContainer(name).inspect();
      const ep = info.NetworkSettings.Networks?.[network];
      return {
        pid: info.State.Pid,
        ...(ep?.IPAddress ? { ip: ep.IPAddress } : {}),
        aliases: [info.Config.Hostname, ...(ep?.Aliases ?? [])].filter(
          (a, i, all): a is string => !!a && all.indexOf(a) === i && !/^[0-9a-f]{12}$/.test(a),
        ),
      };
    } catch (err) {
      this.fail(`inspecting container ${name}`, err);
    }
  }

  /** Dropping packets inside a container's network namespace needs a local engine, root, nsenter and iptables. */
  private async canFirewall(): Promise<boolean> {
    const host = process.env.DOCKER_HOST;
    if (host && !host.startsWith('unix://')) return false;
    if (process.getuid?.() !== 0) return false;
    const { execa } = await loadExeca();
    const ok = async (cmd: string, args: string[]) =>
      execa(cmd, args, { reject: false, stdin: 'ignore' }).then((r) => r.exitCode === 0);
    return (await ok('nsenter', ['--version'])) && (await ok('iptables', ['--version']));
  }

  private async iptables(pid: number, args: string[]): Promise<{ ok: boolean; stderr: string }> {
    const { execa } = await loadExeca();
    const r = await execa('nsenter', ['-t', String(pid), '-n', 'iptables', '-w', ...args], {
      reject: false,
      stdin: 'ignore',
    });
    return { ok: r.exitCode === 0, stderr: String(r.stderr).trim() };
  }

  private readonly partitionAliases = new Map<string, string[]>();

  async partitionContainer(
    name: string,
    peers: readonly string[],
    network: string,
    prefer?: PartitionMethod,
  ): Promise<PartitionMethod> {
    const method: PartitionMethod = prefer ?? ((await this.canFirewall()) ? 'peers' : 'network');
    const me = await this.onNetwork(name, network);
    if (method === 'peers') {
      for (const peer of peers) {
        const { ip } = await this.onNetwork(peer, network);
        if (!ip) continue;
        for (const rule of [
          ['INPUT', '-s', ip],
          ['OUTPUT', '-d', ip],
        ]) {
          const r = await this.iptables(me.pid, ['-I', ...rule, '-j', 'DROP']);
          if (!r.ok)
            throw new RemoteError(
              `cutting ${name} off from ${peer}`,
              `iptables failed: ${r.stderr}`,
              'the peers method needs root, nsenter and iptables on the Docker host',
            );
        }
      }
      return method;
    }
    this.partitionAliases.set(name, me.aliases);
    try {
      await this.docker.getNetwork(network).disconnect({ Container: name, Force: true });
    } catch (err) {
      this.fail(`disconnecting ${name} from ${network}`, err);
    }
    return method;
  }

  async healPartition(
    name: string,
    peers: readonly string[],
    network: string,
    method: PartitionMethod,
  ): Promise<void> {
    if (method === 'peers') {
      const me = await this.onNetwork(name, network);
      if (!me.pid) return; // not running: its network namespace, and the rules, are gone
      for (const peer of peers) {
        const { ip } = await this.onNetwork(peer, network);
        if (!ip) continue;
        for (const rule of [
          ['INPUT', '-s', ip],
          ['OUTPUT', '-d', ip],
        ]) {
          // Inserted once per partition; delete until none is left (safe to call twice).
          for (let i = 0; i < 10 && (await this.iptables(me.pid, ['-D', ...rule, '-j', 'DROP'])).ok; i++);
        }
      }
      return;
    }
    const me = await this.onNetwork(name, network);
    if (me.ip) return; // connected already
    try {
      await this.docker.getNetwork(network).connect({
        Container: name,
        EndpointConfig: { Aliases: this.partitionAliases.get(name) ?? me.aliases },
      });
    } catch (err) {
      this.fail(`connecting ${name} to ${network} again`, err);
    }
  }

  async containerLogs(name: string, tail: number): Promise<string> {
    try {
      const buf = (await this.docker
        .getContainer(name)
        .logs({ stdout: true, stderr: true, tail, follow: false })) as unknown as Buffer;
      return demuxDockerLog(Buffer.isBuffer(buf) ? buf : Buffer.from(String(buf)));
    } catch (err) {
      this.fail(`reading the log of ${name}`, err);
    }
  }

  async runImage(
    image: string,
    entrypoint: readonly string[],
    cmd: readonly string[],
    timeoutMs = 30_000,
    opts: RunImageOptions = {},
  ): Promise<{ exitCode: number; output: string }> {
    const doing = `running ${[...entrypoint, ...cmd].join(' ')} in image ${image}`;
    let container: Docker.Container | undefined;
    try {
      container = await this.docker.createContainer({
        Image: image,
        Entrypoint: [...entrypoint],
        Cmd: [...cmd],
        Labels: { 'io.vaultctl.kind': 'probe' },
        ...(opts.user ? { User: opts.user } : {}),
        HostConfig: {
          NetworkMode: 'none',
          ...(opts.volumes?.length
            ? { Binds: opts.volumes.map((v) => `${v.volume}:${v.target}${v.readOnly ? ':ro' : ''}`) }
            : {}),
        },
      });
      await container.start();
      const waited = (await Promise.race([
        container.wait(),
        new Promise((_, reject) =>
          setTimeout(() => reject(new Error(`no exit within ${timeoutMs / 1000} s`)), timeoutMs).unref(),
        ),
      ])) as { StatusCode: number };
      const buf = (await container.logs({ stdout: true, stderr: true, follow: false })) as unknown as Buffer;
      return {
        exitCode: waited.StatusCode,
        output: demuxDockerLog(Buffer.isBuffer(buf) ? buf : Buffer.from(String(buf))),
      };
    } catch (err) {
      return this.fail(doing, err);
    } finally {
      await container?.remove({ force: true }).catch(() => undefined);
    }
  }

  async imageLabels(ref: string): Promise<Record<string, string> | undefined> {
    try {
      const info = await this.docker.getImage(ref).inspect();
      return { ...(info.Config?.Labels ?? {}) };
    } catch (err) {
      if ((err as DockerodeError).statusCode === 404) return undefined;
      this.fail(`inspecting image ${ref}`, err);
    }
  }

  async listNetworks(labels: Readonly<Record<string, string>>): Promise<ResourceInfo[]> {
    try {
      const list = await this.docker.listNetworks({ filters: { label: labelFilter(labels) } });
      return list.map((n) => ({ name: n.Name, labels: n.Labels ?? {} }));
    } catch (err) {
      this.fail('listing networks', err);
    }
  }

  async createNetwork(name: string, labels: Readonly<Record<string, string>>): Promise<void> {
    try {
      await this.docker.createNetwork({
        Name: name,
        Driver: 'bridge',
        Labels: { ...labels },
        CheckDuplicate: true,
      });
    } catch (err) {
      this.fail(`creating network ${name}`, err);
    }
  }

  async removeNetwork(name: string): Promise<void> {
    try {
      await this.docker.getNetwork(name).remove();
    } catch (err) {
      if ((err as DockerodeError).statusCode === 404) return;
      this.fail(`removing network ${name}`, err);
    }
  }

  async listVolumes(labels: Readonly<Record<string, string>>): Promise<ResourceInfo[]> {
    try {
      const res = await this.docker.listVolumes({ filters: { label: labelFilter(labels) } });
      return (res.Volumes ?? []).map((v) => ({ name: v.Name, labels: v.Labels ?? {} }));
    } catch (err) {
      this.fail('listing volumes', err);
    }
  }

  async createVolume(name: string, labels: Readonly<Record<string, string>>): Promise<void> {
    try {
      await this.docker.createVolume({ Name: name, Labels: { ...labels } });
    } catch (err) {
      this.fail(`creating volume ${name}`, err);
    }
  }

  async removeVolume(name: string): Promise<void> {
    try {
      await this.docker.getVolume(name).remove();
    } catch (err) {
      if ((err as DockerodeError).statusCode === 404) return;
      this.fail(`removing volume ${name}`, err);
    }
  }
}
