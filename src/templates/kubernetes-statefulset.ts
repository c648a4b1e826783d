/**
 * The StatefulSet: replicas = the spec's nodes, a claim each for raft data and audit logs, the HCL
 * from the ConfigMap, secrets (TLS, seal key, KMS credentials, transit token) mounted or referenced
 * by name from Secrets the user creates, never inlined. Pods run non-root with a read-only root
 * filesystem and the "restricted" Pod Security Standard, spread over nodes and zones.
 */
import { createHash } from 'node:crypto';
import { CONTAINER_METRICS_PORT } from '../spec/names.js';
import type { ClusterSpec } from '../spec/schema.js';
import { CONTAINER_API_PORT, CONTAINER_CLUSTER_PORT } from '../spec/schema.js';
import { nodePaths } from './hcl.js';
import { kubernetesNames, podHost, renderKubernetesHcl } from './kubernetes-hcl.js';
import {
  commonLabels,
  KUBERNETES_HCL_KEY,
  type Manifest,
  manifestMeta,
  selectorLabels,
  type Waiver,
  waiverAnnotations,
} from './kubernetes-objects.js';

/** Readiness: active or standby, unsealed (standbys answer 429 without standbyok, sealed 503, uninitialised 501). */
export const READINESS_PATH = '/v1/sys/health?standbyok=true';
/**
 * Liveness: a sealed or uninitialised server is alive and must not be restarted (that would not
 * unseal it, and a Shamir node would lose the key shares typed in so far): only no answer is fatal.
 */
export const LIVENESS_PATH = '/v1/sys/health?standbyok=true&sealedcode=204&uninitcode=204';

/** Where the AWS shared credentials file from the KMS credentials Secret appears in a pod. */
const AWS_DIR = '/aws';

/** The checkov checks the StatefulSet fails on purpose. */
export function statefulSetWaivers(spec: ClusterSpec): Waiver[] {
  return [
    {
      check: 'CKV_K8S_43',
      reason:
        'the spec pins a version tag; give image: <repository>@sha256:<digest> in the spec to pin a digest instead',
    },
    {
      check: 'CKV_K8S_15',
      reason:
        'IfNotPresent: a pod of the secrets store must restart during a registry outage; the tag is pinned, so the image cannot drift',
    },
    {
      check: 'CKV_K8S_38',
      reason: 'service_registration "kubernetes" labels the pod through the API server with this token',
    },
    ...(spec.seal.type === 'transit'
      ? [
          {
            check: 'CKV_K8S_35',
            reason:
              'the transit seal reads its token from the environment or the config file only; a Secret reference keeps it out of the ConfigMap',
          },
        ]
      : []),
  ];
}

function env(spec: ClusterSpec): Record<string, unknown>[] {
  const names = kubernetesNames(spec);
  const paths = nodePaths(spec.flavor);
  const p = paths.envPrefix;
  const scheme = spec.tls.enabled ? 'https' : 'http';
  const self = podHost(names, `$(${p}_K8S_POD_NAME)`);
  return [
    { name: `${p}_K8S_POD_NAME`, valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    { name: `${p}_K8S_NAMESPACE`, valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
    { name: `${p}_API_ADDR`, value: `${scheme}://${self}:${CONTAINER_API_PORT}` },
    // The cluster port always speaks TLS, with certificates the cluster manages itself.
    { name: `${p}_CLUSTER_ADDR`, value: `https://${self}:${CONTAINER_CLUSTER_PORT}` },
    { name: `${p}_RAFT_NODE_ID`, value: `$(${p}_K8S_POD_NAME)` },
    // For `kubectl exec <pod> -- bao status` and friends.
    { name: `${p}_ADDR`, value: `${scheme}://127.0.0.1:${CONTAINER_API_PORT}` },
    ...(spec.tls.enabled ? [{ name: `${p}_CACERT`, value: `${paths.tls}/ca.pem` }] : []),
    ...(spec.seal.type === 'awskms'
      ? [{ name: 'AWS_SHARED_CREDENTIALS_FILE', value: `${AWS_DIR}/credentials` }]
      : []),
    ...(spec.seal.type === 'transit'
      ? [
          {
            name: `${p}_TOKEN`,
            valueFrom: { secretKeyRef: { name: names.transitTokenSecret, key: 'token' } },
          },
        ]
      : []),
  ];
}

interface Mounted {
  readonly volume: Record<string, unknown>;
  readonly mount: Record<string, unknown>;
}

/** Secret volumes are group-readable: the server reads them through fsGroup, as a user of its own. */
function secretVolume(name: string, secretName: string, mountPath: string, optional = false): Mounted {
  return {
    volume: { name, secret: { secretName, defaultMode: 0o440, ...(optional ? { optional: true } : {}) } },
    mount: { name, mountPath, readOnly: true },
  };
}

function volumes(spec: ClusterSpec): Mounted[] {
  const names = kubernetesNames(spec);
  const paths = nodePaths(spec.flavor);
  return [
    {
      volume: { name: 'config', configMap: { name: names.configMap, defaultMode: 0o444 } },
      mount: { name: 'config', mountPath: paths.config, readOnly: true },
    },
    ...(spec.tls.enabled ? [secretVolume('tls', names.tlsSecret, paths.tls)] : []),
    ...(spec.seal.type === 'static'
      ? [secretVolume('seal-key', names.sealKeySecret, paths.sealKey.replace(/\/[^/]+$/, ''))]
      : []),
    // Optional: without the Secret the SDK's other sources apply (an IAM role for the service account).
    ...(spec.seal.type === 'awskms' ? [secretVolume('aws-credentials', names.awsSecret, AWS_DIR, true)] : []),
    // The root filesystem is read-only; the server and its plugins may still want a scratch dir.
    { volume: { name: 'tmp', emptyDir: { sizeLimit: '64Mi' } }, mount: { name: 'tmp', mountPath: '/tmp' } },
  ];
}

function claims(spec: ClusterSpec): { name: string; size: string; mountPath: string }[] {
  const paths = nodePaths(spec.flavor);
  return [
    { name: 'data', size: spec.kubernetes.dataSize, mountPath: paths.data },
    ...(spec.audit.enabled
      ? [{ name: 'audit', size: spec.kubernetes.auditSize, mountPath: paths.logs }]
      : []),
  ];
}

function probe(path: string, spec: ClusterSpec, timing: Record<string, number>): Record<string, unknown> {
  return {
    httpGet: { path, port: 'api', scheme: spec.tls.enabled ? 'HTTPS' : 'HTTP' },
    ...timing,
  };
}

/** Spread over nodes (a hard rule: two voters on one node share its fate) and zones (best effort). */
export function topologySpread(spec: ClusterSpec): Record<string, unknown>[] {
  const labelSelector = { matchLabels: selectorLabels(kubernetesNames(spec)) };
  return [
    { maxSkew: 1, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'DoNotSchedule', labelSelector },
    {
      maxSkew: 1,
      topologyKey: 'topology.kubernetes.io/zone',
      whenUnsatisfiable: 'ScheduleAnyway',
      labelSelector,
    },
  ];
}

export function statefulSetManifest(spec: ClusterSpec): Manifest {
  const names = kubernetesNames(spec);
  const paths = nodePaths(spec.flavor);
  const k = spec.kubernetes;
  const mounted = volumes(spec);
  const pvcs = claims(spec);
  const hclHash = createHash('sha256').update(renderKubernetesHcl(spec)).digest('hex');
  const container = {
    name: paths.binary === 'bao' ? 'openbao' : 'vault',
    image: spec.image,
    imagePullPolicy: 'IfNotPresent',
    command: [paths.binary, 'server', `-config=${paths.config}/${KUBERNETES_HCL_KEY}`],
    env: env(spec),
    ports: [
      { name: 'api', containerPort: CONTAINER_API_PORT, protocol: 'TCP' },
      { name: 'cluster', containerPort: CONTAINER_CLUSTER_PORT, protocol: 'TCP' },
      { name: 'metrics', containerPort: CONTAINER_METRICS_PORT, protocol: 'TCP' },
    ],
    readinessProbe: probe(READINESS_PATH, spec, {
      initialDelaySeconds: 5,
      periodSeconds: 5,
      timeoutSeconds: 3,
      failureThreshold: 2,
      successThreshold: 1,
    }),
    livenessProbe: probe(LIVENESS_PATH, spec, {
      initialDelaySeconds: 60,
      periodSeconds: 10,
      timeoutSeconds: 3,
      failureThreshold: 3,
      successThreshold: 1,
    }),
    resources: {
      requests: { cpu: k.resources.cpuRequest, memory: k.resources.memoryRequest },
      limits: { cpu: k.resources.cpuLimit, memory: k.resources.memoryLimit },
    },
    securityContext: {
      runAsNonRoot: true,
      runAsUser: k.runAsUser,
      runAsGroup: k.runAsGroup,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      privileged: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
    volumeMounts: [
      ...mounted.map((m) => m.mount),
      ...pvcs.map((c) => ({ name: c.name, mountPath: c.mountPath })),
    ],
  };
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: manifestMeta(spec, names.statefulSet, {
      annotations: waiverAnnotations(statefulSetWaivers(spec)),
    }),
    spec: {
      serviceName: names.headless,
      replicas: spec.nodes.length,
      // Every pod starts at once: with OrderedReady the second pod would wait for the first to be
      // ready, which it never is before `vaultctl init` (uninitialised answers 501).
      podManagementPolicy: 'Parallel',
      // Upgrades go standbys first, the leader last (after a step-down): the operator deletes pods in
      // that order (`vaultctl upgrade`'s order), the controller never picks one itself.
      updateStrategy: { type: 'OnDelete' },
      persistentVolumeClaimRetentionPolicy: { whenDeleted: 'Retain', whenScaled: 'Retain' },
      selector: { matchLabels: selectorLabels(names) },
      template: {
        metadata: {
          labels: commonLabels(names),
          annotations: {
            // Changes with the HCL, so a pod deleted after a config change is recognisable as stale.
            'vaultctl.io/config-sha256': hclHash,
          },
        },
        spec: {
          serviceAccountName: names.serviceAccount,
          automountServiceAccountToken: true,
          terminationGracePeriodSeconds: 30,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: k.runAsUser,
            runAsGroup: k.runAsGroup,
            fsGroup: k.runAsGroup,
            fsGroupChangePolicy: 'OnRootMismatch',
            seccompProfile: { type: 'RuntimeDefault' },
          },
          topologySpreadConstraints: topologySpread(spec),
          containers: [container],
          volumes: mounted.map((m) => m.volume),
        },
      },
      volumeClaimTemplates: pvcs.map((c) => ({
        apiVersion: 'v1',
        kind: 'PersistentVolumeClaim',
        metadata: { name: c.name, labels: commonLabels(names) },
        spec: {
          accessModes: ['ReadWriteOnce'],
          ...(k.storageClass ? { storageClassName: k.storageClass } : {}),
          resources: { requests: { storage: c.size } },
        },
      })),
    },
  };
}
