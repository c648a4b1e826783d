/**
 * docker-compose file for the same containers `vaultctl up` creates: rendered from the very
 * ContainerSpecs the Docker runtime uses, so the two cannot drift. Resource names are explicit
 * (`name:`), so compose and vaultctl manage the same network and volumes.
 */
import { relative } from 'node:path';
import { stringify } from 'yaml';
import { bindTarget, chownScript, helperTarget } from '../runtime/chown-script.js';
import type { ContainerSecurity } from '../runtime/port.js';
import type { RenderedCluster } from './rendered.js';

function seconds(ms: number): string {
  return `${Math.round(ms / 1000)}s`;
}

export const SEAL_KEY_ENV = 'VAULTCTL_SEAL_KEY_FILE';
export const TLS_DIR_ENV = 'VAULTCTL_TLS_DIR';

/** The one-shot service that hands the volumes to the service uid before the others start. */
export const VOLUME_OWNER_SERVICE = 'volume-owner';

function composeSecurity(sec: ContainerSecurity): Record<string, unknown> {
  return {
    cap_drop: ['ALL'],
    ...(sec.capAdd.length > 0 ? { cap_add: [...sec.capAdd] } : {}),
    read_only: sec.readOnlyRootfs,
    ...(sec.tmpfs.length > 0 ? { tmpfs: sec.tmpfs.map((t) => `${t.target}:${t.options}`) } : {}),
    ...(sec.noNewPrivileges ? { security_opt: ['no-new-privileges:true'] } : {}),
    mem_limit: sec.memoryBytes,
    memswap_limit: sec.memoryBytes,
    pids_limit: sec.pidsLimit,
  };
}

export function renderCompose(rendered: RenderedCluster, composeDir: string): string {
  const services: Record<string, unknown> = {};
  const volumes: Record<string, unknown> = {};
  const bindSources = new Set<string>();
  for (const c of rendered.containers) {
    const node = c.labels['io.vaultctl.node'] ?? c.hostname;
    services[node] = {
      image: c.image,
      container_name: c.name,
      hostname: c.hostname,
      entrypoint: [...c.entrypoint],
      command: [...c.cmd],
      // Listed as NAME=value; seal credentials as bare names, which compose takes from its environment.
      environment: [...Object.entries(c.env).map(([k, v]) => `${k}=${v}`), ...c.passEnv],
      labels: Object.fromEntries(Object.entries(c.labels).filter(([k]) => k !== 'io.vaultctl.config-hash')),
      volumes: c.mounts.map((m) => {
        if (m.type === 'volume') {
          volumes[m.name] = { name: m.name, labels: rendered.volumes.find((v) => v.name === m.name)?.labels };
          return `${m.name}:${m.target}`;
        }
        const rel = `./${relative(composeDir, m.source)}`;
        let source = rel;
        if (m.target.endsWith('/seal.key')) source = `\${${SEAL_KEY_ENV}:-${rel}}`;
        // TLS material (a node's directory, the CA for Prometheus) lives where VAULTCTL_TLS_DIR says.
        else if (rel.startsWith('./tls/')) source = `\${${TLS_DIR_ENV}:-./tls}/${rel.slice('./tls/'.length)}`;
        if (c.security?.owner) bindSources.add(source);
        return `${source}:${m.target}${m.readOnly ? ':ro' : ''}`;
      }),
      ports: c.ports.map((p) => `${p.hostIp}:${p.hostPort}:${p.containerPort}`),
      networks: { vault: { aliases: [...c.network.aliases] } },
      ...(c.user ? { user: c.user } : {}),
      ...(c.security ? composeSecurity(c.security) : {}),
      ...(c.security?.owner && c.mounts.some((m) => m.type === 'volume')
        ? { depends_on: { [VOLUME_OWNER_SERVICE]: { condition: 'service_completed_successfully' } } }
        : {}),
      ...(c.healthcheck
        ? {
            healthcheck: {
              test: ['CMD', ...c.healthcheck.test],
              interval: seconds(c.healthcheck.intervalMs),
              timeout: seconds(c.healthcheck.timeoutMs),
              retries: c.healthcheck.retries,
              start_period: seconds(c.healthcheck.startPeriodMs),
            },
          }
        : {}),
      restart: c.restart,
    };
  }
  const owned = rendered.containers.find((c) => c.security?.owner)?.security?.owner;
  if (owned && Object.keys(volumes).length > 0) {
    // What `up` does before it creates a container: the volumes, and the state files the services
    // read (the 0600 seal key, TLS keys), handed to the service uid; new volumes belong to root.
    const names = Object.keys(volumes);
    const binds = [...bindSources];
    services[VOLUME_OWNER_SERVICE] = {
      image: owned.helperImage,
      entrypoint: ['/bin/busybox', 'sh', '-c', chownScript(owned.uid, owned.gid, names.length, binds.length)],
      user: '0:0',
      network_mode: 'none',
      cap_drop: ['ALL'],
      cap_add: ['CHOWN', 'DAC_OVERRIDE', 'FOWNER'],
      read_only: true,
      security_opt: ['no-new-privileges:true'],
      mem_limit: 64 * 1024 * 1024,
      pids_limit: 16,
      volumes: [
        ...names.map((n, i) => `${n}:${helperTarget(i)}`),
        ...binds.map((b, i) => `${b}:${bindTarget(i)}`),
      ],
    };
  }
  const doc = {
    version: '3.8',
    services,
    volumes,
    networks: { vault: { name: rendered.network.name, labels: rendered.network.labels } },
  };
  const header = [
    `# Cluster ${rendered.spec.name}: ${rendered.spec.nodes.length} ${rendered.spec.flavor} nodes on Raft.`,
    '# Rendered by vaultctl; the same containers `vaultctl up` creates. API ports are published on',
    `# ${rendered.spec.bindAddress} only. Start with: docker-compose -p ${rendered.spec.name} -f docker-compose.vault.yml up -d`,
    rendered.spec.seal.type === 'static'
      ? `# The static seal key is read from ${SEAL_KEY_ENV} (default ./seal.key, 32 random bytes, mode 0600).`
      : undefined,
    rendered.spec.tls.enabled
      ? `# TLS material per node from ${TLS_DIR_ENV} (default ./tls; \`vaultctl render\` creates it in the state dir).`
      : undefined,
  ].filter((l): l is string => l !== undefined);
  return `${header.join('\n')}\n${stringify(doc, { lineWidth: 0 })}`;
}
