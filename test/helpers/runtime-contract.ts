/**
 * The container runtime contract: what every `ContainerRuntime` does at the edges the reconciler
 * relies on. Run against the in-memory fake (test/unit/runtime-contract.test.ts) and the Docker
 * adapter (test/integration/runtime-contract.test.ts), so the fake cannot drift from Docker.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { ContainerRuntime, ContainerSpec } from '../../src/runtime/port.js';
import { LABELS } from '../../src/runtime/port.js';

export interface ContractSubject {
  readonly runtime: ContainerRuntime;
  /** An image the runtime has, that keeps running with `cmd`. */
  readonly image: string;
  readonly entrypoint: readonly string[];
  readonly cmd: readonly string[];
  /** Names of everything the suite creates start with this. */
  readonly prefix: string;
}

const labels = (prefix: string) => ({ [LABELS.cluster]: prefix });

function container(s: ContractSubject, name: string, extra: Partial<ContainerSpec> = {}): ContainerSpec {
  return {
    name,
    hostname: name,
    image: s.image,
    entrypoint: s.entrypoint,
    cmd: s.cmd,
    env: {},
    passEnv: [],
    labels: labels(s.prefix),
    mounts: [],
    ports: [],
    network: { name: `${s.prefix}-net`, aliases: [] },
    restart: 'no',
    ...extra,
  };
}

/** Removes everything the suite may have created, whatever state a failed test left. */
async function cleanup(s: ContractSubject): Promise<void> {
  const rt = s.runtime;
  for (const c of await rt.listContainers(labels(s.prefix))) await rt.removeContainer(c.name);
  for (const v of await rt.listVolumes(labels(s.prefix))) await rt.removeVolume(v.name);
  for (const n of await rt.listNetworks(labels(s.prefix))) await rt.removeNetwork(n.name);
}

export function runtimeContract(title: string, subject: () => ContractSubject): void {
  describe(`the runtime contract: ${title}`, () => {
    afterAll(async () => cleanup(subject()));

    it('removing a container that does not exist is not an error (a rollback may run twice)', async () => {
      const s = subject();
      await expect(s.runtime.removeContainer(`${s.prefix}-missing`)).resolves.toBeUndefined();
    });

    it('stopping or starting a container that does not exist fails', async () => {
      const s = subject();
      await expect(s.runtime.stopContainer(`${s.prefix}-missing`, 1)).rejects.toThrow();
      await expect(s.runtime.startContainer(`${s.prefix}-missing`)).rejects.toThrow();
    });

    it('removing a volume or network that does not exist is not an error', async () => {
      const s = subject();
      await expect(s.runtime.removeVolume(`${s.prefix}-missing-volume`)).resolves.toBeUndefined();
      await expect(s.runtime.removeNetwork(`${s.prefix}-missing-net`)).resolves.toBeUndefined();
    });

    it('creating a container from an image the runtime does not have fails, and creates nothing', async () => {
      const s = subject();
      await s.runtime.createNetwork(`${s.prefix}-net`, labels(s.prefix));
      const name = `${s.prefix}-noimage`;
      await expect(
        s.runtime.createContainer(container(s, name, { image: `${s.prefix}/no-such-image:0.0.0` })),
      ).rejects.toThrow();
      expect((await s.runtime.listContainers(labels(s.prefix))).map((c) => c.name)).not.toContain(name);
    });

    it('a volume a container uses, and a network a running container is on, cannot be removed', async () => {
      const s = subject();
      const volume = `${s.prefix}-data`;
      const name = `${s.prefix}-user`;
      await s.runtime.createVolume(volume, labels(s.prefix));
      await s.runtime.createContainer(
        container(s, name, { mounts: [{ type: 'volume', name: volume, target: '/data' }] }),
      );
      await s.runtime.startContainer(name);
      await expect(s.runtime.removeVolume(volume)).rejects.toThrow();
      await expect(s.runtime.removeNetwork(`${s.prefix}-net`)).rejects.toThrow();
      // Once the container is gone, both go.
      await s.runtime.removeContainer(name);
      await s.runtime.removeVolume(volume);
      await s.runtime.removeNetwork(`${s.prefix}-net`);
      expect(await s.runtime.listVolumes(labels(s.prefix))).toEqual([]);
      expect(await s.runtime.listNetworks(labels(s.prefix))).toEqual([]);
    });
  });
}
