/**
 * The development KMS container of `up --dev-kms`: moto's server on the cluster network under the
 * alias `kms` (the nodes' seal endpoint), its port published on 127.0.0.1 only so that vaultctl can
 * create the key. moto keeps its keys in memory: the container is disposable only together with
 * the cluster's data.
 */
import { createHash } from 'node:crypto';
import type { ContainerSpec } from '../runtime/port.js';
import { LABELS } from '../runtime/port.js';
import { CONTAINER_KMS_PORT, DEV_KMS_HOST, devKmsContainerName } from '../spec/dev-kms-names.js';
import { clusterLabels } from '../spec/names.js';
import type { ClusterSpec } from '../spec/schema.js';
import type { NamedResource } from './rendered.js';

/** What the image (image build --moto) runs: its interpreter symlink and moto's server module. */
const MOTO_ENTRYPOINT = ['/bin/python3', '-S', '-m', 'moto.server'];

export function renderDevKms(spec: ClusterSpec, network: NamedResource): ContainerSpec {
  const base: Omit<ContainerSpec, 'labels'> = {
    name: devKmsContainerName(spec.name),
    hostname: DEV_KMS_HOST,
    image: spec.seal.devKms.image,
    entrypoint: MOTO_ENTRYPOINT,
    cmd: ['-H', '0.0.0.0', '-p', String(CONTAINER_KMS_PORT)],
    env: { PYTHONUNBUFFERED: '1' },
    passEnv: [],
    mounts: [],
    ports: [{ hostIp: '127.0.0.1', hostPort: spec.seal.devKms.port, containerPort: CONTAINER_KMS_PORT }],
    network: { name: network.name, aliases: [DEV_KMS_HOST] },
    restart: 'unless-stopped',
  };
  const configHash = createHash('sha256').update(JSON.stringify(base)).digest('hex').slice(0, 16);
  return {
    ...base,
    labels: { ...clusterLabels(spec), [LABELS.kind]: 'kms', [LABELS.configHash]: configHash },
  };
}
