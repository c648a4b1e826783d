/**
 * The ACL policies `vaultctl init` writes. Tenant credentials live at
 * `<kv>/data/tenants/{tenant_id}/exchanges/{exchange}/{credential_type}`.
 */
import type { ClusterSpec } from '../spec/schema.js';

export interface PolicyDoc {
  readonly name: string;
  readonly description: string;
  readonly hcl: string;
}

export function renderPolicies(spec: ClusterSpec): PolicyDoc[] {
  const kv = spec.kv.path;
  const tenant = '{{identity.entity.metadata.tenant_id}}';
  return [
    {
      name: 'tenant-access',
      description: "a tenant's own credentials, keyed by its entity's tenant_id metadata",
      hcl: `# Tenant isolation: each tenant entity reaches only its own prefix.
# OpenBao >= 2.6 drops template values containing "/", "+" or "*"; vaultctl refuses such tenant ids.
path "${kv}/data/tenants/${tenant}/*" {
  capabilities = ["create", "read", "update", "delete", "list"]
}

path "${kv}/metadata/tenants/${tenant}/*" {
  capabilities = ["list", "read", "delete"]
}
`,
    },
    {
      name: 'app-read',
      description: "the application's read access to every tenant's credentials",
      hcl: `# The application reads tenant exchange credentials; it writes none.
path "${kv}/data/tenants/*" {
  capabilities = ["read"]
}

path "${kv}/metadata/tenants/*" {
  capabilities = ["list", "read"]
}
`,
    },
    {
      name: 'admin',
      description: 'operators: secrets, policies, auth methods, raft and health',
      hcl: `# Operators: manage secrets and the cluster without the root token.
path "${kv}/*" {
  capabilities = ["create", "read", "update", "delete", "list"]
}

path "sys/policies/acl/*" {
  capabilities = ["create", "read", "update", "delete", "list"]
}

path "sys/auth/*" {
  capabilities = ["create", "read", "update", "delete", "sudo"]
}

path "auth/*" {
  capabilities = ["create", "read", "update", "delete", "list"]
}

path "sys/mounts/*" {
  capabilities = ["create", "read", "update", "delete", "list"]
}

path "sys/storage/raft/*" {
  capabilities = ["create", "read", "update", "delete", "list", "sudo"]
}

path "sys/health" {
  capabilities = ["read", "sudo"]
}

path "sys/mounts" {
  capabilities = ["read"]
}

path "sys/auth" {
  capabilities = ["read"]
}

path "sys/policies/acl" {
  capabilities = ["list"]
}

path "sys/audit" {
  capabilities = ["read", "sudo"]
}

path "sys/audit/*" {
  capabilities = ["create", "update", "delete", "sudo"]
}

path "identity/*" {
  capabilities = ["create", "read", "update", "delete", "list"]
}

# Break-glass: a new root token from the key shares (\`vaultctl root-token\`).
path "sys/generate-root-token/*" {
  capabilities = ["create", "read", "update", "delete", "sudo"]
}

path "sys/generate-root/*" {
  capabilities = ["create", "read", "update", "delete", "sudo"]
}

path "sys/metrics" {
  capabilities = ["read"]
}
`,
    },
    {
      name: 'metrics',
      description: 'Prometheus: the metrics endpoint and nothing else',
      hcl: `# Prometheus scrapes /v1/sys/metrics with a token holding only this policy.
path "sys/metrics" {
  capabilities = ["read"]
}
`,
    },
  ];
}
