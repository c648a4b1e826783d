/**
 * `vaultctl render --target kubernetes`: the manifests, one object a file, numbered in the order
 * `kubectl apply -f DIR` must create them (the namespace first). The Prometheus Operator's objects
 * go to monitoring/, which `kubectl apply -f DIR` leaves out: they need the operator's CRDs.
 */
import { stringify } from 'yaml';
import type { ClusterSpec } from '../spec/schema.js';
import { certificateNames, checkKubernetesSpec, kubernetesNames } from './kubernetes-hcl.js';
import { prometheusRuleManifest, serviceMonitorManifest } from './kubernetes-monitoring.js';
import {
  activeServiceManifest,
  configMapManifest,
  headlessServiceManifest,
  type Manifest,
  namespaceManifest,
  networkPolicyManifest,
  podDisruptionBudgetManifest,
  roleBindingManifest,
  roleManifest,
  serviceAccountManifest,
} from './kubernetes-objects.js';
import { statefulSetManifest } from './kubernetes-statefulset.js';
import type { RenderedFile } from './rendered.js';

export const KUBERNETES_MONITORING_DIR = 'monitoring';

/** Every manifest with the file it goes to (relative to the output directory). */
export function kubernetesManifests(spec: ClusterSpec): { path: string; manifest: Manifest }[] {
  checkKubernetesSpec(spec);
  return [
    { path: '00-namespace.yaml', manifest: namespaceManifest(spec) },
    { path: '01-serviceaccount.yaml', manifest: serviceAccountManifest(spec) },
    { path: '02-role.yaml', manifest: roleManifest(spec) },
    { path: '03-rolebinding.yaml', manifest: roleBindingManifest(spec) },
    { path: '04-configmap.yaml', manifest: configMapManifest(spec) },
    { path: '05-service-headless.yaml', manifest: headlessServiceManifest(spec) },
    { path: '06-service-active.yaml', manifest: activeServiceManifest(spec) },
    { path: '07-statefulset.yaml', manifest: statefulSetManifest(spec) },
    { path: '08-poddisruptionbudget.yaml', manifest: podDisruptionBudgetManifest(spec) },
    { path: '09-networkpolicy.yaml', manifest: networkPolicyManifest(spec) },
    { path: `${KUBERNETES_MONITORING_DIR}/servicemonitor.yaml`, manifest: serviceMonitorManifest(spec) },
    { path: `${KUBERNETES_MONITORING_DIR}/prometheusrule.yaml`, manifest: prometheusRuleManifest(spec) },
  ];
}

/** The Secrets the manifests reference by name, with the keys each must hold; vaultctl renders none. */
export function requiredSecrets(spec: ClusterSpec): { name: string; keys: string[]; purpose: string }[] {
  const names = kubernetesNames(spec);
  return [
    ...(spec.tls.enabled
      ? [
          {
            name: names.tlsSecret,
            keys: ['ca.pem', 'cert.pem', 'key.pem'],
            purpose: `TLS of every pod; the certificate's names: ${certificateNames(names).join(', ')}`,
          },
        ]
      : []),
    ...(spec.seal.type === 'static'
      ? [{ name: names.sealKeySecret, keys: ['seal.key'], purpose: 'the static seal key (32 random bytes)' }]
      : []),
    ...(spec.seal.type === 'awskms'
      ? [
          {
            name: names.awsSecret,
            keys: ['credentials'],
            purpose:
              'an AWS shared credentials file for the KMS key (optional: an IAM role for the service account works too)',
          },
        ]
      : []),
    ...(spec.seal.type === 'transit'
      ? [
          {
            name: names.transitTokenSecret,
            keys: ['token'],
            purpose: "the transit server's token for the seal",
          },
        ]
      : []),
  ];
}

export function renderKubernetes(spec: ClusterSpec): RenderedFile[] {
  const names = kubernetesNames(spec);
  return kubernetesManifests(spec).map(({ path, manifest }) => {
    const header = [
      `# ${manifest.kind} ${manifest.metadata.name} of cluster ${spec.name} (namespace ${names.namespace}).`,
      '# Rendered by vaultctl from the cluster spec (`vaultctl render --target kubernetes`), do not edit.',
      ...(path.startsWith(`${KUBERNETES_MONITORING_DIR}/`)
        ? ['# Needs the Prometheus Operator (its CRDs): kubectl apply -f <dir>/monitoring after it runs.']
        : []),
    ];
    return { path, content: `${header.join('\n')}\n${stringify(manifest, { lineWidth: 0 })}` };
  });
}
