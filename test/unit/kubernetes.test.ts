/**
 * `render --target kubernetes` and `--target helm-values`: one test per rendered property (spread,
 * probes, security context, claims, quorum, the active service's selector, secrets by name only),
 * the bad input refused, and golden files for 3 and 5 nodes with the static, transit and awskms
 * seals (UPDATE_GOLDEN=1 rewrites them). The real validators run in kubernetes-validate.test.ts.
 */
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ConfigError, UsageError } from '../../src/errors.js';
import { resolveSpec } from '../../src/spec/resolve.js';
import type { ClusterSpec, SpecInput } from '../../src/spec/schema.js';
import {
  HELM_VALUES_FILE,
  helmValues,
  renderHelmValues,
  splitImage,
} from '../../src/templates/helm-values.js';
import { kubernetesManifests, renderKubernetes, requiredSecrets } from '../../src/templates/kubernetes.js';
import { renderKubernetesHcl } from '../../src/templates/kubernetes-hcl.js';
import { alertRules } from '../../src/templates/prometheus.js';
import { KUBERNETES_CASES, KUBERNETES_GOLDEN_ROOT } from '../helpers/kubernetes-cases.js';

const UPDATE = process.env.UPDATE_GOLDEN === '1';

function spec(input: SpecInput = {}): ClusterSpec {
  return resolveSpec(input).spec;
}

// biome-ignore lint/suspicious/noExplicitAny: manifests are walked as plain YAML data
type Any = any;

function byKind(s: ClusterSpec, kind: string): Any {
  const found = kubernetesManifests(s).filter((m) => m.manifest.kind === kind);
  expect(found, kind).toHaveLength(1);
  return found[0]!.manifest;
}

function podSpec(s: ClusterSpec): Any {
  return byKind(s, 'StatefulSet').spec.template.spec;
}

describe('the StatefulSet', () => {
  it('runs one replica per node of the spec, all started at once', () => {
    expect(byKind(spec(), 'StatefulSet').spec.replicas).toBe(3);
    expect(byKind(spec({ nodeCount: 5 }), 'StatefulSet').spec.replicas).toBe(5);
    // OrderedReady would wait for pod 0 to be ready, which it is not before init.
    expect(byKind(spec(), 'StatefulSet').spec.podManagementPolicy).toBe('Parallel');
  });

  it('spreads the pods over nodes (strictly) and zones (where there are any)', () => {
    const spread = podSpec(spec()).topologySpreadConstraints as Any[];
    const selector = byKind(spec(), 'StatefulSet').spec.selector.matchLabels;
    expect(spread.map((c) => [c.topologyKey, c.whenUnsatisfiable, c.maxSkew])).toEqual([
      ['kubernetes.io/hostname', 'DoNotSchedule', 1],
      ['topology.kubernetes.io/zone', 'ScheduleAnyway', 1],
    ]);
    for (const c of spread) expect(c.labelSelector.matchLabels).toEqual(selector);
  });

  it('is ready on /v1/sys/health?standbyok=true and alive even when sealed or uninitialised', () => {
    const c = podSpec(spec()).containers[0];
    expect(c.readinessProbe.httpGet).toEqual({
      path: '/v1/sys/health?standbyok=true',
      port: 'api',
      scheme: 'HTTPS',
    });
    expect(c.livenessProbe.httpGet.path).toBe('/v1/sys/health?standbyok=true&sealedcode=204&uninitcode=204');
    const plain = podSpec(spec({ tls: { enabled: false } })).containers[0];
    expect(plain.readinessProbe.httpGet.scheme).toBe('HTTP');
  });

  it('runs non-root, read-only, without capabilities or privilege escalation', () => {
    const p = podSpec(spec());
    expect(p.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: 10001,
      fsGroup: 10001,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(p.containers[0].securityContext).toMatchObject({
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      privileged: false,
      capabilities: { drop: ['ALL'] },
    });
  });

  it('has requests and limits from the spec', () => {
    const s = spec({ kubernetes: { resources: { memoryLimit: '2Gi', cpuRequest: '500m' } } });
    expect(podSpec(s).containers[0].resources).toEqual({
      requests: { cpu: '500m', memory: '256Mi' },
      limits: { cpu: '1', memory: '2Gi' },
    });
  });

  it('claims a volume for raft data and one for audit logs, mounted where the HCL writes', () => {
    const s = spec({ kubernetes: { storageClass: 'fast-ssd', auditSize: '20Gi' } });
    const sts = byKind(s, 'StatefulSet');
    const claims = sts.spec.volumeClaimTemplates as Any[];
    expect(
      claims.map((c) => [c.metadata.name, c.spec.resources.requests.storage, c.spec.storageClassName]),
    ).toEqual([
      ['data', '10Gi', 'fast-ssd'],
      ['audit', '20Gi', 'fast-ssd'],
    ]);
    const mounts = sts.spec.template.spec.containers[0].volumeMounts as Any[];
    expect(mounts).toContainEqual({ name: 'data', mountPath: '/openbao/data' });
    expect(mounts).toContainEqual({ name: 'audit', mountPath: '/openbao/logs' });
    const hcl = renderKubernetesHcl(s);
    expect(hcl).toContain('path    = "/openbao/data"');
    expect(hcl).toContain('file_path = "/openbao/logs/audit.log"');
    // Without audit, no audit claim.
    const noAudit = byKind(spec({ audit: { enabled: false } }), 'StatefulSet').spec
      .volumeClaimTemplates as Any[];
    expect(noAudit.map((c) => c.metadata.name)).toEqual(['data']);
  });

  it('gives each pod its node id, API and cluster address through the Downward API', () => {
    const env = podSpec(spec()).containers[0].env as Any[];
    const get = (n: string) => env.find((e) => e.name === n);
    expect(get('BAO_K8S_POD_NAME').valueFrom.fieldRef.fieldPath).toBe('metadata.name');
    expect(get('BAO_K8S_NAMESPACE').valueFrom.fieldRef.fieldPath).toBe('metadata.namespace');
    expect(get('BAO_RAFT_NODE_ID').value).toBe('$(BAO_K8S_POD_NAME)');
    expect(get('BAO_API_ADDR').value).toBe(
      'https://$(BAO_K8S_POD_NAME).alphapulse-internal.alphapulse.svc:8200',
    );
    expect(get('BAO_CLUSTER_ADDR').value).toBe(
      'https://$(BAO_K8S_POD_NAME).alphapulse-internal.alphapulse.svc:8201',
    );
    // The variables it refers to come first (Kubernetes expands only earlier ones).
    expect(env.findIndex((e) => e.name === 'BAO_K8S_POD_NAME')).toBeLessThan(
      env.findIndex((e) => e.name === 'BAO_API_ADDR'),
    );
    const vaultEnv = podSpec(spec({ flavor: 'vault' })).containers[0].env as Any[];
    expect(vaultEnv.map((e) => e.name)).toContain('VAULT_K8S_POD_NAME');
  });
});

describe('the node HCL on Kubernetes', () => {
  it('joins every pod through the headless service and registers with Kubernetes', () => {
    const hcl = renderKubernetesHcl(spec({ nodeCount: 5 }));
    for (let i = 0; i < 5; i++)
      expect(hcl).toContain(
        `leader_api_addr       = "https://alphapulse-${i}.alphapulse-internal.alphapulse.svc:8200"`,
      );
    expect(hcl.match(/retry_join \{/g)).toHaveLength(5);
    expect(hcl).toContain('service_registration "kubernetes" {}');
    // What differs per pod comes from the environment, not the shared file.
    expect(hcl).not.toMatch(/^\s*(node_id|api_addr|cluster_addr)\s*=/m);
    expect(hcl).not.toContain('vault-1');
  });

  it("keeps the spec's seal, telemetry and audit device", () => {
    const hcl = renderKubernetesHcl(
      spec({ seal: { type: 'transit', transit: { address: 'https://t.example:8200' } } }),
    );
    expect(hcl).toContain('seal "transit" {');
    expect(hcl).toContain('address    = "https://t.example:8200"');
    expect(hcl).toContain('prometheus_retention_time = "30s"');
    expect(hcl).toContain('audit "file" "file" {');
  });
});

describe('services, budget and RBAC', () => {
  it('the active service selects the pod service registration labels active', () => {
    const services = kubernetesManifests(spec())
      .filter((m) => m.manifest.kind === 'Service')
      .map((m) => m.manifest as Any);
    const active = services.find((s) => s.metadata.name === 'alphapulse-active');
    expect(active.spec.selector).toEqual({
      'app.kubernetes.io/name': 'alphapulse',
      'app.kubernetes.io/component': 'server',
      'openbao-active': 'true',
    });
    const vaultActive = kubernetesManifests(spec({ flavor: 'vault' }))
      .map((m) => m.manifest as Any)
      .find((m) => m.metadata.name === 'alphapulse-active');
    expect(vaultActive.spec.selector['vault-active']).toBe('true');
    const headless = services.find((s) => s.metadata.name === 'alphapulse-internal');
    expect(headless.spec.clusterIP).toBe('None');
    // Sealed and uninitialised pods must be reachable by name to join and to be initialised.
    expect(headless.spec.publishNotReadyAddresses).toBe(true);
  });

  it('the PodDisruptionBudget keeps a quorum', () => {
    expect(byKind(spec(), 'PodDisruptionBudget').spec.minAvailable).toBe(2);
    expect(byKind(spec({ nodeCount: 5 }), 'PodDisruptionBudget').spec.minAvailable).toBe(3);
    expect(helmValues(spec({ nodeCount: 5 })).server).toMatchObject({
      ha: { disruptionBudget: { enabled: true, maxUnavailable: 2 } },
    });
  });

  it("the Role allows exactly what service registration needs, bound to the pods' account", () => {
    expect(byKind(spec(), 'Role').rules).toEqual([
      { apiGroups: [''], resources: ['pods'], verbs: ['get', 'update', 'patch'] },
    ]);
    const binding = byKind(spec(), 'RoleBinding');
    expect(binding.subjects).toEqual([
      { kind: 'ServiceAccount', name: 'alphapulse', namespace: 'alphapulse' },
    ]);
    expect(podSpec(spec()).serviceAccountName).toBe('alphapulse');
  });

  it("every namespaced object is in the spec's namespace", () => {
    for (const { manifest } of kubernetesManifests(spec({ kubernetes: { namespace: 'secrets' } }))) {
      if (manifest.kind === 'Namespace') expect(manifest.metadata.name).toBe('secrets');
      else expect(manifest.metadata.namespace, manifest.kind).toBe('secrets');
    }
  });
});

describe('secrets', () => {
  it('no Secret is rendered and no secret value appears: secrets are referenced by name', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vaultctl-k8s-'));
    try {
      const token = 'hvs.SENTINEL-transit-token-value';
      const tokenFile = join(dir, 'token');
      writeFileSync(tokenFile, token, { mode: 0o600 });
      const s = spec({
        seal: { type: 'transit', transit: { address: 'https://t.example:8200', tokenFile } },
      });
      const text =
        renderKubernetes(s)
          .map((f) => f.content)
          .join('\n') + renderHelmValues(s);
      expect(text).not.toContain(token);
      expect(text).not.toMatch(/^kind: Secret$/m);
      expect(text).not.toMatch(/stringData|BEGIN (RSA |EC )?PRIVATE KEY/);
      const env = podSpec(s).containers[0].env as Any[];
      expect(env.find((e) => e.name === 'BAO_TOKEN')).toEqual({
        name: 'BAO_TOKEN',
        valueFrom: { secretKeyRef: { name: 'alphapulse-transit-token', key: 'token' } },
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('mounts TLS, the static seal key and the KMS credentials from Secrets by name', () => {
    const vols = (s: ClusterSpec) => podSpec(s).volumes as Any[];
    expect(
      vols(spec())
        .filter((v) => v.secret)
        .map((v) => v.secret.secretName),
    ).toEqual(['alphapulse-tls', 'alphapulse-seal-key']);
    const kms = spec({
      version: '2.6.2',
      seal: { type: 'awskms', awskms: { region: 'eu-west-1', kmsKeyId: 'alias/k' } },
    });
    expect(vols(kms).find((v) => v.name === 'aws-credentials').secret).toMatchObject({
      secretName: 'alphapulse-aws-credentials',
      optional: true,
    });
    expect(requiredSecrets(kms).map((x) => x.name)).toEqual(['alphapulse-tls', 'alphapulse-aws-credentials']);
  });
});

describe('monitoring', () => {
  it('the PrometheusRule carries the alert rules of render --target prometheus', () => {
    const s = spec();
    const rule = kubernetesManifests(s).find((m) => m.manifest.kind === 'PrometheusRule')!.manifest as Any;
    const names = rule.spec.groups[0].rules.map((r: Any) => r.alert);
    // The HAProxy endpoint does not exist on Kubernetes (the active service replaces it).
    const expected = alertRules({ ...s, endpoint: { ...s.endpoint, enabled: false } }).map((r) => r.alert);
    expect(names).toEqual(expected);
    expect(names).not.toContain('VaultEndpointNoBackend');
    const sm = kubernetesManifests(s).find((m) => m.manifest.kind === 'ServiceMonitor')!.manifest as Any;
    expect(sm.spec.endpoints[0]).toMatchObject({ port: 'metrics', path: '/v1/sys/metrics' });
    expect(sm.spec.endpoints[0].relabelings[0]).toMatchObject({ targetLabel: 'job', replacement: 'vault' });
  });
});

describe('bad input', () => {
  const refused = (input: SpecInput, fn: (s: ClusterSpec) => unknown, cause: RegExp) => {
    const s = spec(input);
    expect(() => fn(s)).toThrow(UsageError);
    expect(() => fn(s)).toThrow(cause);
  };

  it('refuses the dev KMS and the managed transit unsealer, which exist only beside Docker', () => {
    refused({ version: '2.6.2', seal: { devKms: { enabled: true } } }, renderKubernetes, /devKms/);
    refused({ seal: { type: 'transit' } }, renderKubernetes, /no address/);
    refused({ seal: { type: 'transit' } }, renderHelmValues, /no address/);
  });

  it("refuses Helm values for the vault flavor (the chart is OpenBao's)", () => {
    refused({ flavor: 'vault' }, renderHelmValues, /runs Vault/);
  });

  it('rejects a resource quantity that is not one', () => {
    let err: unknown;
    try {
      spec({ kubernetes: { dataSize: '10 GB' } });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems).toEqual([
      { path: 'kubernetes.dataSize', message: expect.stringMatching(/Kubernetes quantity/) },
    ]);
  });
});

describe('Helm values', () => {
  it('turn on HA with raft and the same HCL, node ids from the pod names', () => {
    const v = helmValues(spec()) as Any;
    expect(v.server.ha).toMatchObject({
      enabled: true,
      replicas: 3,
      raft: { enabled: true, setNodeId: true },
    });
    expect(v.server.ha.raft.config).toBe(renderKubernetesHcl(spec()));
    expect(v.server.readinessProbe.path).toBe('/v1/sys/health?standbyok=true');
    expect(v.server.auditStorage).toMatchObject({ enabled: true, mountPath: '/openbao/logs' });
    expect(v.fullnameOverride).toBe('alphapulse');
    expect(v.server.serviceAccount.serviceDiscovery.enabled).toBe(true);
  });

  it("split image references into the chart's registry, repository and tag", () => {
    expect(splitImage('openbao/openbao:2.7.2')).toEqual({
      registry: 'docker.io',
      repository: 'openbao/openbao',
      tag: '2.7.2',
    });
    expect(splitImage('quay.io/openbao/openbao:2.6.2')).toEqual({
      registry: 'quay.io',
      repository: 'openbao/openbao',
      tag: '2.6.2',
    });
    expect(splitImage('localhost:5000/bao:1.0.0').registry).toBe('localhost:5000');
  });
});

function listFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

describe('golden files (Kubernetes)', () => {
  for (const [name, input] of Object.entries(KUBERNETES_CASES)) {
    const s = spec(input);
    const files = [
      ...renderKubernetes(s),
      ...(s.flavor === 'openbao' ? [{ path: HELM_VALUES_FILE, content: renderHelmValues(s) }] : []),
    ];
    const dir = join(KUBERNETES_GOLDEN_ROOT, name);
    if (UPDATE) {
      it(`${name}: rewrites the golden files (UPDATE_GOLDEN=1)`, () => {
        rmSync(dir, { recursive: true, force: true });
        for (const f of files) {
          mkdirSync(dirname(join(dir, f.path)), { recursive: true });
          writeFileSync(join(dir, f.path), f.content);
        }
        expect(listFiles(dir)).toEqual(files.map((f) => f.path).sort());
      });
      continue;
    }
    it(`${name}: renders exactly the golden files, byte for byte`, () => {
      expect(files.map((f) => f.path).sort()).toEqual(listFiles(dir));
      for (const f of files) expect(f.content, f.path).toBe(readFileSync(join(dir, f.path), 'utf8'));
      // And each parses as YAML.
      for (const f of files) expect(() => parse(f.content), f.path).not.toThrow();
    });
  }
});
