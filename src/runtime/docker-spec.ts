/**
 * The Docker Engine's side of a ContainerSpec: the create request dockerode sends, and the log
 * stream it returns. Pure: no Engine call here.
 */
import type Docker from 'dockerode';
import type { ContainerSpec } from './port.js';

function nanos(ms: number): number {
  return ms * 1_000_000;
}

/** Splits Docker's multiplexed log stream (8-byte frame headers) into plain text. */
export function demuxDockerLog(buf: Buffer): string {
  if (buf.length < 8) return buf.toString('utf8');
  const parts: Buffer[] = [];
  let i = 0;
  while (i + 8 <= buf.length) {
    const kind = buf[i];
    const size = buf.readUInt32BE(i + 4);
    if ((kind !== 0 && kind !== 1 && kind !== 2) || buf[i + 1] !== 0 || i + 8 + size > buf.length) {
      // Not multiplexed (a TTY container): the buffer is the text.
      return buf.toString('utf8');
    }
    parts.push(buf.subarray(i + 8, i + 8 + size));
    i += 8 + size;
  }
  // A cut-off trailing frame header: keep what is there rather than drop it.
  if (i < buf.length) parts.push(buf.subarray(i));
  return Buffer.concat(parts).toString('utf8');
}

/** HostConfig fields of a container's security profile: nothing when it has none. */
export function securityOptions(spec: ContainerSpec): Docker.HostConfig {
  const sec = spec.security;
  if (!sec) return {};
  return {
    CapDrop: ['ALL'],
    ...(sec.capAdd.length > 0 ? { CapAdd: [...sec.capAdd] } : {}),
    ReadonlyRootfs: sec.readOnlyRootfs,
    ...(sec.tmpfs.length > 0
      ? { Tmpfs: Object.fromEntries(sec.tmpfs.map((t) => [t.target, t.options])) }
      : {}),
    SecurityOpt: sec.noNewPrivileges ? ['no-new-privileges:true'] : [],
    Memory: sec.memoryBytes,
    // No swap beyond the memory limit: key material stays in RAM and the limit is the limit.
    MemorySwap: sec.memoryBytes,
    PidsLimit: sec.pidsLimit,
  };
}

/** The Engine's create request for a container spec; passEnv values are read from this process. */
export function createOptions(spec: ContainerSpec): Docker.ContainerCreateOptions {
  const portKey = (p: number) => `${p}/tcp`;
  return {
    name: spec.name,
    Hostname: spec.hostname,
    Image: spec.image,
    Entrypoint: [...spec.entrypoint],
    Cmd: [...spec.cmd],
    Env: [
      ...Object.entries(spec.env).map(([k, v]) => `${k}=${v}`),
      ...spec.passEnv
        .filter((k) => process.env[k] !== undefined && spec.secretEnv?.[k] === undefined)
        .map((k) => `${k}=${process.env[k]}`),
      ...Object.entries(spec.secretEnv ?? {}).map(([k, v]) => `${k}=${v}`),
    ],
    Labels: { ...spec.labels },
    ExposedPorts: Object.fromEntries(spec.ports.map((p) => [portKey(p.containerPort), {}])),
    ...(spec.healthcheck
      ? {
          Healthcheck: {
            Test: ['CMD', ...spec.healthcheck.test],
            Interval: nanos(spec.healthcheck.intervalMs),
            Timeout: nanos(spec.healthcheck.timeoutMs),
            Retries: spec.healthcheck.retries,
            StartPeriod: nanos(spec.healthcheck.startPeriodMs),
          },
        }
      : {}),
    ...(spec.user ? { User: spec.user } : {}),
    HostConfig: {
      Mounts: spec.mounts.map((m) =>
        m.type === 'bind'
          ? { Type: 'bind' as const, Source: m.source, Target: m.target, ReadOnly: m.readOnly }
          : { Type: 'volume' as const, Source: m.name, Target: m.target },
      ),
      PortBindings: Object.fromEntries(
        spec.ports.map((p) => [
          portKey(p.containerPort),
          [{ HostIp: p.hostIp, HostPort: String(p.hostPort) }],
        ]),
      ),
      RestartPolicy: { Name: spec.restart },
      NetworkMode: spec.network.name,
      ...securityOptions(spec),
    },
    NetworkingConfig: {
      EndpointsConfig: { [spec.network.name]: { Aliases: [...spec.network.aliases] } },
    },
  };
}
