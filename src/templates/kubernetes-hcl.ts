/**
 * Names and node configuration for a cluster on Kubernetes: one StatefulSet whose pods share one
 * ConfigMap. The HCL is the Docker cluster's own (`renderNodeHcl`: the same seal, listeners, audit
 * devices and telemetry), with what differs per pod taken out (it comes from the environment the
 * StatefulSet sets: BAO_API_ADDR, BAO_CLUSTER_ADDR, BAO_RAFT_NODE_ID), `retry_join` to every pod
 * through the headless service's DNS names, and `service_registration "kubernetes"`, which labels
 * each pod `<flavor>-active` so that the active service can select the leader.
 */
import { UsageError } from '../errors.js';
import { apiScheme, transitSettings } from '../spec/names.js';
import type { ClusterSpec, NodeSpec } from '../spec/schema.js';
import { CONTAINER_API_PORT } from '../spec/schema.js';
import { hclString, nodePaths, renderNodeHcl } from './hcl.js';

/** The names of everything rendered for Kubernetes, and of the Secrets the user creates. */
export interface KubernetesNames {
  readonly namespace: string;
  /** `app.kubernetes.io/name` of every object; also the StatefulSet's, ServiceAccount's and PDB's name. */
  readonly app: string;
  readonly statefulSet: string;
  /** The headless service the StatefulSet's pods get their DNS names from (raft joins, scraping). */
  readonly headless: string;
  /** The service in front of the active pod only. */
  readonly active: string;
  readonly configMap: string;
  readonly serviceAccount: string;
  readonly role: string;
  /** Secrets referenced by name, never rendered: created by the user (see the README). */
  readonly tlsSecret: string;
  readonly sealKeySecret: string;
  readonly awsSecret: string;
  readonly transitTokenSecret: string;
  /** Pod names, in order: <statefulSet>-0, -1, ... */
  readonly pods: readonly string[];
  /** The label service registration sets on each pod: openbao-active or vault-active. */
  readonly activeLabel: string;
}

export function kubernetesNames(spec: ClusterSpec): KubernetesNames {
  const name = spec.name;
  return {
    namespace: spec.kubernetes.namespace ?? name,
    app: name,
    statefulSet: name,
    headless: `${name}-internal`,
    active: `${name}-active`,
    configMap: `${name}-config`,
    serviceAccount: name,
    role: `${name}-service-registration`,
    tlsSecret: `${name}-tls`,
    sealKeySecret: `${name}-seal-key`,
    awsSecret: `${name}-aws-credentials`,
    transitTokenSecret: `${name}-transit-token`,
    pods: spec.nodes.map((_, i) => `${name}-${i}`),
    activeLabel: `${spec.flavor === 'openbao' ? 'openbao' : 'vault'}-active`,
  };
}

/** A pod's DNS name through the headless service (what every certificate must cover: *.<headless>.<ns>.svc). */
export function podHost(names: KubernetesNames, pod: string): string {
  return `${pod}.${names.headless}.${names.namespace}.svc`;
}

/** The DNS names the TLS Secret's certificate must carry (one certificate shared by every pod). */
export function certificateNames(names: KubernetesNames): string[] {
  const ns = names.namespace;
  return [
    `*.${names.headless}.${ns}.svc`,
    `*.${names.headless}.${ns}.svc.cluster.local`,
    `${names.headless}.${ns}.svc`,
    `${names.active}.${ns}.svc`,
    names.active,
    'localhost',
    '127.0.0.1',
  ];
}

/**
 * Refuses what only works beside a Docker cluster vaultctl runs: the dev KMS (moto on the cluster
 * network) and the transit seal's managed unsealer. Thrown before anything is written.
 */
export function checkKubernetesSpec(spec: ClusterSpec): void {
  if (spec.seal.devKms.enabled)
    throw new UsageError(
      'rendering for Kubernetes',
      'seal.devKms runs moto beside a Docker cluster only',
      'turn seal.devKms off and give seal.awskms (region, kmsKeyId) of a real KMS key',
    );
  if (spec.seal.type === 'transit' && transitSettings(spec).managed)
    throw new UsageError(
      'rendering for Kubernetes',
      'the transit seal has no address: the unsealer vaultctl runs exists only beside a Docker cluster',
      'set seal.transit.address to a transit server the pods can reach (its token goes into a Secret)',
    );
}

function retryJoin(spec: ClusterSpec, names: KubernetesNames, pod: string): string[] {
  const paths = nodePaths(spec.flavor);
  const host = podHost(names, pod);
  return [
    '  retry_join {',
    `    leader_api_addr       = ${hclString(`${apiScheme(spec)}://${host}:${CONTAINER_API_PORT}`)}`,
    ...(spec.tls.enabled
      ? [
          `    leader_ca_cert_file   = ${hclString(`${paths.tls}/ca.pem`)}`,
          `    leader_tls_servername = ${hclString(host)}`,
        ]
      : []),
    ...(spec.tls.requireClientCert
      ? [
          `    leader_client_cert_file = ${hclString(`${paths.tls}/cert.pem`)}`,
          `    leader_client_key_file  = ${hclString(`${paths.tls}/key.pem`)}`,
        ]
      : []),
    '  }',
  ];
}

/** The configuration every pod reads (the ConfigMap's node.hcl). */
export function renderKubernetesHcl(spec: ClusterSpec): string {
  checkKubernetesSpec(spec);
  const names = kubernetesNames(spec);
  const env = nodePaths(spec.flavor).envPrefix;
  const pods: NodeSpec[] = names.pods.map((name) => ({ name, apiPort: CONTAINER_API_PORT }));
  const docker = renderNodeHcl({ ...spec, nodes: pods }, pods[0]!);
  const flavorName = spec.flavor === 'openbao' ? 'OpenBao' : 'Vault';
  const out: string[] = [];
  let skipping = false;
  for (const line of docker.split('\n')) {
    if (skipping) {
      if (line === '  }') skipping = false;
      continue;
    }
    if (line.startsWith('  retry_join {')) {
      skipping = true;
      continue;
    }
    if (out.length === 0) {
      out.push(
        `# ${flavorName} pods of cluster ${spec.name} on Kubernetes: one configuration for every pod.`,
      );
      continue;
    }
    if (line.startsWith('# Rendered by vaultctl')) {
      out.push(
        '# Rendered by vaultctl from the cluster spec (`vaultctl render --target kubernetes`), do not edit.',
        `# api_addr, cluster_addr and the raft node_id differ per pod: the StatefulSet sets ${env}_API_ADDR,`,
        `# ${env}_CLUSTER_ADDR and ${env}_RAFT_NODE_ID (the pod's name and its DNS name) in its environment.`,
      );
      continue;
    }
    if (/^(api_addr|cluster_addr) /.test(line) || /^ {2}node_id /.test(line)) continue;
    if (line.startsWith('# The cluster port always speaks TLS')) continue;
    if (line.startsWith('# TLS 1.3 with a certificate')) {
      out.push(
        `# TLS 1.3 with the certificate of the Secret ${names.tlsSecret}, which names every pod (*.${names.headless}.${names.namespace}.svc).`,
      );
      continue;
    }
    if (line.startsWith('# Auto-unseal from a 32-byte key')) {
      out.push(`# Auto-unseal from the 32-byte key of the Secret ${names.sealKeySecret}, mounted read-only.`);
      continue;
    }
    if (line === '}' && out.at(-1) === '' && out.at(-2) === '  }') out.pop();
    out.push(line);
    if (line.startsWith('  autopilot_update_interval')) {
      out.push(
        '',
        `  # Every pod, through the headless service ${names.headless}: a pod joins whichever answers as leader.`,
        ...names.pods.flatMap((p) => retryJoin(spec, names, p)),
      );
    }
  }
  while (out.at(-1) === '') out.pop();
  out.push(
    '',
    `# Labels each pod ${names.activeLabel}, ${names.activeLabel.replace('-active', '')}-sealed, ... so the service ${names.active}`,
    `# selects the leader. Namespace and pod name come from ${env}_K8S_NAMESPACE and ${env}_K8S_POD_NAME.`,
    'service_registration "kubernetes" {}',
  );
  return `${out.join('\n')}\n`;
}
