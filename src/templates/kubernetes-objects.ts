/**
 * The Kubernetes objects around the StatefulSet: namespace, the ServiceAccount and the RBAC that
 * service registration needs, the ConfigMap with the node HCL, the headless and active services,
 * and the PodDisruptionBudget that keeps quorum. Plain objects; kubernetes.ts writes them as YAML.
 */
import { CONTAINER_METRICS_PORT } from '../spec/names.js';
import type { ClusterSpec } from '../spec/schema.js';
import { CONTAINER_API_PORT, CONTAINER_CLUSTER_PORT } from '../spec/schema.js';
import { type KubernetesNames, kubernetesNames, renderKubernetesHcl } from './kubernetes-hcl.js';

export type Manifest = Record<string, unknown> & {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace?: string } & Record<string, unknown>;
};

/** The file name of the node configuration inside the ConfigMap (and inside each pod). */
export const KUBERNETES_HCL_KEY = 'node.hcl';

/** Labels that select the server pods (StatefulSet, services, PDB, spread constraints). */
export function selectorLabels(names: KubernetesNames): Record<string, string> {
  return { 'app.kubernetes.io/name': names.app, 'app.kubernetes.io/component': 'server' };
}

export function commonLabels(names: KubernetesNames): Record<string, string> {
  return {
    ...selectorLabels(names),
    'app.kubernetes.io/instance': names.app,
    'app.kubernetes.io/managed-by': 'vaultctl',
  };
}

/**
 * A checkov check this object fails on purpose, with the reason; written as `checkov.io/skipN`
 * annotations, which checkov reads (and reports as skipped, with the reason).
 */
export interface Waiver {
  readonly check: string;
  readonly reason: string;
}

export function waiverAnnotations(waivers: readonly Waiver[]): Record<string, string> {
  return Object.fromEntries(waivers.map((w, i) => [`checkov.io/skip${i + 1}`, `${w.check}=${w.reason}`]));
}

export function manifestMeta(
  spec: ClusterSpec,
  name: string,
  extra: { labels?: Record<string, string>; annotations?: Record<string, string> } = {},
): Manifest['metadata'] {
  const names = kubernetesNames(spec);
  return {
    name,
    namespace: names.namespace,
    labels: { ...commonLabels(names), ...extra.labels },
    ...(extra.annotations && Object.keys(extra.annotations).length > 0
      ? { annotations: extra.annotations }
      : {}),
  };
}

/** Raft quorum: a majority of the voters. */
export function quorum(nodes: number): number {
  return Math.floor(nodes / 2) + 1;
}

export function namespaceManifest(spec: ClusterSpec): Manifest {
  const names = kubernetesNames(spec);
  return {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: {
      name: names.namespace,
      labels: {
        ...commonLabels(names),
        // The pods meet the "restricted" Pod Security Standard: the API server refuses any that does not.
        'pod-security.kubernetes.io/enforce': 'restricted',
        'pod-security.kubernetes.io/enforce-version': 'latest',
      },
    },
  };
}

export function serviceAccountManifest(spec: ClusterSpec): Manifest {
  return {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: manifestMeta(spec, kubernetesNames(spec).serviceAccount),
    // Only the server pods mount a token (their spec says so): service registration needs it.
    automountServiceAccountToken: false,
  };
}

/** What `service_registration "kubernetes"` needs: read and label its own pod. */
export function roleManifest(spec: ClusterSpec): Manifest {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: manifestMeta(spec, kubernetesNames(spec).role),
    rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'update', 'patch'] }],
  };
}

export function roleBindingManifest(spec: ClusterSpec): Manifest {
  const names = kubernetesNames(spec);
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: manifestMeta(spec, names.role),
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: names.role },
    subjects: [{ kind: 'ServiceAccount', name: names.serviceAccount, namespace: names.namespace }],
  };
}

export function configMapManifest(spec: ClusterSpec): Manifest {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: manifestMeta(spec, kubernetesNames(spec).configMap),
    data: { [KUBERNETES_HCL_KEY]: renderKubernetesHcl(spec) },
  };
}

function servicePorts(withInternal: boolean): Record<string, unknown>[] {
  return [
    { name: 'api', port: CONTAINER_API_PORT, targetPort: 'api', protocol: 'TCP' },
    ...(withInternal
      ? [
          { name: 'cluster', port: CONTAINER_CLUSTER_PORT, targetPort: 'cluster', protocol: 'TCP' },
          { name: 'metrics', port: CONTAINER_METRICS_PORT, targetPort: 'metrics', protocol: 'TCP' },
        ]
      : []),
  ];
}

/**
 * Every pod's DNS name, ready or not: a sealed or uninitialised pod fails its readiness probe, yet
 * the others must reach it to join it (retry_join) and vaultctl must reach it to initialise it.
 */
export function headlessServiceManifest(spec: ClusterSpec): Manifest {
  const names = kubernetesNames(spec);
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: manifestMeta(spec, names.headless),
    spec: {
      clusterIP: 'None',
      publishNotReadyAddresses: true,
      selector: selectorLabels(names),
      ports: servicePorts(true),
    },
  };
}

/** The leader only: service registration labels it `<flavor>-active: "true"`, and only it. */
export function activeServiceManifest(spec: ClusterSpec): Manifest {
  const names = kubernetesNames(spec);
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: manifestMeta(spec, names.active),
    spec: {
      type: 'ClusterIP',
      publishNotReadyAddresses: false,
      selector: { ...selectorLabels(names), [names.activeLabel]: 'true' },
      ports: servicePorts(false),
    },
  };
}

/** A voluntary disruption (node drain, upgrade) never takes the cluster below quorum. */
export function podDisruptionBudgetManifest(spec: ClusterSpec): Manifest {
  const names = kubernetesNames(spec);
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: manifestMeta(spec, names.app),
    spec: {
      minAvailable: quorum(spec.nodes.length),
      selector: { matchLabels: selectorLabels(names) },
    },
  };
}

/**
 * Who may reach the pods: clients the API (8200) and Prometheus the metrics listener (8210) from
 * anywhere, the raft and request-forwarding port (8201) only the cluster's own pods. Egress stays
 * open: the seal's KMS or transit server lives outside.
 */
export function networkPolicyManifest(spec: ClusterSpec): Manifest {
  const names = kubernetesNames(spec);
  const tcp = (port: number) => [{ port, protocol: 'TCP' }];
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: manifestMeta(spec, names.app),
    spec: {
      podSelector: { matchLabels: selectorLabels(names) },
      policyTypes: ['Ingress'],
      ingress: [
        { ports: tcp(CONTAINER_API_PORT) },
        { ports: tcp(CONTAINER_METRICS_PORT) },
        {
          from: [{ podSelector: { matchLabels: selectorLabels(names) } }],
          ports: tcp(CONTAINER_CLUSTER_PORT),
        },
      ],
    },
  };
}
