/**
 * Monitoring on Kubernetes through the Prometheus Operator: a ServiceMonitor that scrapes every pod's
 * metrics-only listener (port 8210, like `render --target prometheus` does on Docker) and a
 * PrometheusRule with the very alert rules of prometheus.ts. The scrape relabels its targets to the
 * labels those rules select on (job="vault", cluster, node), so the rules are the same text.
 */
import { parse } from 'yaml';
import type { ClusterSpec } from '../spec/schema.js';
import { certificateNames, kubernetesNames } from './kubernetes-hcl.js';
import { type Manifest, manifestMeta, selectorLabels } from './kubernetes-objects.js';
import { renderAlertRules, SCRAPE_JOB } from './prometheus.js';

/** The spec as the alert rules see it on Kubernetes: no HAProxy endpoint (the active service replaces it). */
function withoutEndpoint(spec: ClusterSpec): ClusterSpec {
  return { ...spec, endpoint: { ...spec.endpoint, enabled: false } };
}

export function serviceMonitorManifest(spec: ClusterSpec): Manifest {
  const names = kubernetesNames(spec);
  return {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'ServiceMonitor',
    metadata: manifestMeta(spec, names.app),
    spec: {
      selector: { matchLabels: selectorLabels(names) },
      namespaceSelector: { matchNames: [names.namespace] },
      endpoints: [
        {
          port: 'metrics',
          path: '/v1/sys/metrics',
          params: { format: ['prometheus'] },
          scheme: spec.tls.enabled ? 'https' : 'http',
          interval: spec.monitoring.scrapeInterval,
          // The nodes label some series with their cluster name already: the same value as ours.
          honorLabels: true,
          ...(spec.tls.enabled
            ? {
                tlsConfig: {
                  ca: { secret: { name: names.tlsSecret, key: 'ca.pem' } },
                  // Targets are pod IPs; the certificate names the headless service.
                  serverName: certificateNames(names)[2],
                },
              }
            : {}),
          relabelings: [
            { targetLabel: 'job', replacement: SCRAPE_JOB, action: 'replace' },
            { targetLabel: 'cluster', replacement: spec.name, action: 'replace' },
            { sourceLabels: ['__meta_kubernetes_pod_name'], targetLabel: 'node', action: 'replace' },
          ],
        },
      ],
    },
  };
}

export function prometheusRuleManifest(spec: ClusterSpec): Manifest {
  const names = kubernetesNames(spec);
  const rules = parse(renderAlertRules(withoutEndpoint(spec))) as { groups: unknown[] };
  return {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PrometheusRule',
    metadata: manifestMeta(spec, names.app),
    spec: { groups: rules.groups },
  };
}
