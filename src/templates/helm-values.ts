/**
 * `vaultctl render --target helm-values`: a values file for the official OpenBao Helm chart
 * (openbao/openbao-helm, chart `openbao`; keys checked against its values.yaml and
 * values.schema.json, chart 0.29.x): HA with integrated raft storage and the same node HCL as
 * `--target kubernetes`, the same probes, security context, spread, claims and secrets by name.
 *
 * The release must be installed under the cluster's name (fullnameOverride pins the object names
 * to it either way): the HCL joins the pods <name>-N.<name>-internal, the chart's own names.
 */
import { stringify } from 'yaml';
import { UsageError } from '../errors.js';
import type { ClusterSpec } from '../spec/schema.js';
import { CONTAINER_API_PORT, CONTAINER_CLUSTER_PORT } from '../spec/schema.js';
import { nodePaths } from './hcl.js';
import { kubernetesNames, podHost, renderKubernetesHcl } from './kubernetes-hcl.js';
import { quorum } from './kubernetes-objects.js';
import { LIVENESS_PATH, READINESS_PATH } from './kubernetes-statefulset.js';
import { alertRules } from './prometheus.js';

export const HELM_VALUES_FILE = 'openbao-values.yaml';

/** registry / repository / tag of an image reference, as the chart's server.image wants them. */
export function splitImage(ref: string): { registry: string; repository: string; tag: string } {
  const at = ref.indexOf('@');
  const base = at >= 0 ? ref.slice(0, at) : ref;
  const colon = base.lastIndexOf(':');
  const hasTag = colon > 0 && !base.slice(colon).includes('/');
  const name = hasTag ? base.slice(0, colon) : base;
  const tag = at >= 0 ? ref.slice(at) : hasTag ? base.slice(colon + 1) : 'latest';
  const first = name.split('/')[0]!;
  const isRegistry =
    name.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  return {
    registry: isRegistry ? first : 'docker.io',
    repository: isRegistry ? name.slice(first.length + 1) : name,
    tag,
  };
}

function secretVolumes(spec: ClusterSpec): { volumes: unknown[]; mounts: unknown[] } {
  const names = kubernetesNames(spec);
  const paths = nodePaths(spec.flavor);
  const items: { name: string; secretName: string; path: string; optional?: boolean }[] = [
    ...(spec.tls.enabled ? [{ name: 'tls', secretName: names.tlsSecret, path: paths.tls }] : []),
    ...(spec.seal.type === 'static'
      ? [{ name: 'seal-key', secretName: names.sealKeySecret, path: paths.sealKey.replace(/\/[^/]+$/, '') }]
      : []),
    ...(spec.seal.type === 'awskms'
      ? [{ name: 'aws-credentials', secretName: names.awsSecret, path: '/aws', optional: true }]
      : []),
  ];
  return {
    volumes: [
      ...items.map((i) => ({
        name: i.name,
        secret: { secretName: i.secretName, defaultMode: 0o440, ...(i.optional ? { optional: true } : {}) },
      })),
      // The chart copies the HCL to /tmp before it starts the server; the root filesystem is read-only.
      { name: 'tmp', emptyDir: { sizeLimit: '64Mi' } },
    ],
    mounts: [
      ...items.map((i) => ({ name: i.name, mountPath: i.path, readOnly: true })),
      { name: 'tmp', mountPath: '/tmp' },
    ],
  };
}

export function helmValues(spec: ClusterSpec): Record<string, unknown> {
  if (spec.flavor !== 'openbao')
    throw new UsageError(
      'rendering Helm values',
      'the values file is for the OpenBao chart, and this cluster runs Vault',
      "use --target kubernetes for plain manifests (HashiCorp's vault chart takes similar keys under server.ha.raft)",
    );
  const names = kubernetesNames(spec);
  const k = spec.kubernetes;
  const scheme = spec.tls.enabled ? 'https' : 'http';
  const self = podHost(names, '$(BAO_K8S_POD_NAME)');
  const { volumes, mounts } = secretVolumes(spec);
  const podLabels = {
    'app.kubernetes.io/name': 'openbao',
    'app.kubernetes.io/instance': spec.name,
    component: 'server',
  };
  const spread = [
    { maxSkew: 1, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'DoNotSchedule' },
    { maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'ScheduleAnyway' },
  ].map((c) => ({ ...c, labelSelector: { matchLabels: podLabels } }));
  return {
    fullnameOverride: spec.name,
    global: { enabled: true, namespace: names.namespace, tlsDisable: !spec.tls.enabled },
    injector: { enabled: false },
    server: {
      enabled: true,
      image: { ...splitImage(spec.image), pullPolicy: 'IfNotPresent' },
      // Standbys first, the leader last after a step-down: the operator deletes the pods in that order.
      updateStrategyType: 'OnDelete',
      // Every pod at once: an uninitialised pod is never ready, so OrderedReady would wait forever.
      podManagementPolicy: 'Parallel',
      logLevel: spec.logLevel,
      resources: {
        requests: { cpu: k.resources.cpuRequest, memory: k.resources.memoryRequest },
        limits: { cpu: k.resources.cpuLimit, memory: k.resources.memoryLimit },
      },
      readinessProbe: {
        enabled: true,
        path: READINESS_PATH,
        port: CONTAINER_API_PORT,
        failureThreshold: 2,
        initialDelaySeconds: 5,
        periodSeconds: 5,
        successThreshold: 1,
        timeoutSeconds: 3,
      },
      livenessProbe: {
        enabled: true,
        path: LIVENESS_PATH,
        port: CONTAINER_API_PORT,
        failureThreshold: 3,
        initialDelaySeconds: 60,
        periodSeconds: 10,
        successThreshold: 1,
        timeoutSeconds: 3,
      },
      extraEnvironmentVars: {
        ...(spec.tls.enabled ? { BAO_CACERT: `${nodePaths(spec.flavor).tls}/ca.pem` } : {}),
        ...(spec.seal.type === 'awskms' ? { AWS_SHARED_CREDENTIALS_FILE: '/aws/credentials' } : {}),
      },
      extraSecretEnvironmentVars:
        spec.seal.type === 'transit'
          ? [{ envName: 'BAO_TOKEN', secretName: names.transitTokenSecret, secretKey: 'token' }]
          : [],
      volumes,
      volumeMounts: mounts,
      // Spread instead of the chart's default anti-affinity: nodes strictly, zones where there are any.
      affinity: '',
      topologySpreadConstraints: spread,
      dataStorage: {
        enabled: true,
        size: k.dataSize,
        mountPath: nodePaths(spec.flavor).data,
        storageClass: k.storageClass ?? null,
        accessMode: 'ReadWriteOnce',
      },
      persistentVolumeClaimRetentionPolicy: { whenDeleted: 'Retain', whenScaled: 'Retain' },
      auditStorage: {
        enabled: spec.audit.enabled,
        size: k.auditSize,
        // The HCL's audit device writes here (the chart's default is /openbao/audit).
        mountPath: nodePaths(spec.flavor).logs,
        storageClass: k.storageClass ?? null,
        accessMode: 'ReadWriteOnce',
      },
      standalone: { enabled: false },
      ha: {
        enabled: true,
        replicas: spec.nodes.length,
        apiAddr: `${scheme}://${self}:${CONTAINER_API_PORT}`,
        clusterAddr: `https://${self}:${CONTAINER_CLUSTER_PORT}`,
        raft: { enabled: true, setNodeId: true, config: renderKubernetesHcl(spec) },
        disruptionBudget: { enabled: true, maxUnavailable: spec.nodes.length - quorum(spec.nodes.length) },
      },
      serviceAccount: { create: true, serviceDiscovery: { enabled: true } },
      service: { enabled: true, active: { enabled: true }, standby: { enabled: true } },
      statefulSet: {
        securityContext: {
          pod: {
            runAsNonRoot: true,
            runAsUser: k.runAsUser,
            runAsGroup: k.runAsGroup,
            fsGroup: k.runAsGroup,
            seccompProfile: { type: 'RuntimeDefault' },
          },
          container: {
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            capabilities: { drop: ['ALL'] },
          },
        },
      },
    },
    ui: { enabled: false },
    serverTelemetry: {
      // Off: the Prometheus Operator must run first. The rules are those of `render --target prometheus`.
      serviceMonitor: { enabled: false },
      prometheusRules: {
        enabled: false,
        rules: alertRules({ ...spec, endpoint: { ...spec.endpoint, enabled: false } }).map((r) => ({
          alert: r.alert,
          expr: r.expr,
          for: spec.monitoring.alertFor ?? r.for,
          labels: { severity: r.severity, cluster: spec.name },
          annotations: { summary: r.summary, description: r.description, runbook: r.runbook },
        })),
      },
    },
  };
}

export function renderHelmValues(spec: ClusterSpec): string {
  const names = kubernetesNames(spec);
  const header = [
    `# Values for the official OpenBao Helm chart: cluster ${spec.name}, ${spec.nodes.length} pods on raft.`,
    '# Rendered by vaultctl from the cluster spec (`vaultctl render --target helm-values`), do not edit.',
    `# Install under the cluster's name: helm install ${spec.name} openbao/openbao -n ${names.namespace} -f ${HELM_VALUES_FILE}`,
    '# Secrets are referenced by name, never included: create them first (see the README, "Production on Kubernetes").',
  ];
  return `${header.join('\n')}\n${stringify(helmValues(spec), { lineWidth: 0 })}`;
}
