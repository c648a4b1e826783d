import { describe, expect, it } from 'vitest';
import { renderMetrics } from '../../src/commands/health.js';
import { parsePrometheusText, summariseMetrics } from '../../src/health/node-metrics.js';

// Lines as OpenBao 2.7.2's /v1/sys/metrics?format=prometheus prints them (active node).
const ACTIVE = `# HELP vault_core_unsealed vault_core_unsealed
# TYPE vault_core_unsealed gauge
vault_core_unsealed{cluster="alphapulse"} 1
vault_core_active{cluster="alphapulse"} 1
vault_autopilot_failure_tolerance 1
vault_autopilot_healthy 1
vault_autopilot_node_healthy{node_id="vault-1"} 1
vault_core_handle_request{quantile="0.5"} 0.29579201340675354
vault_core_handle_request{quantile="0.99"} 8.085618019104004
vault_core_handle_request_sum 44.45944030582905
vault_core_handle_request_count 29
vault_raft_storage_stats_applied_index{cluster="alphapulse",peer_id="vault-1"} 51
vault_raft_storage_stats_commit_index{cluster="alphapulse",peer_id="vault-1"} 52
vault_raft_storage_stats_term{cluster="alphapulse",peer_id="vault-1"} 3
vault_audit_log_request_failure 0
vault_audit_log_response_failure 2
`;

const STANDBY = `vault_core_unsealed{cluster="alphapulse"} 1
vault_core_active{cluster="alphapulse"} 0
vault_core_handle_request{quantile="0.99"} NaN
vault_raft_storage_stats_term{cluster="alphapulse",peer_id="vault-2"} 3
`;

describe('node metrics', () => {
  it('parses samples with labels and skips comments', () => {
    const s = parsePrometheusText(ACTIVE);
    expect(s.find((x) => x.name === 'vault_autopilot_node_healthy')).toEqual({
      name: 'vault_autopilot_node_healthy',
      labels: { node_id: 'vault-1' },
      value: 1,
    });
    expect(s.some((x) => x.name.startsWith('#'))).toBe(false);
  });

  it('summarises the active node', () => {
    expect(summariseMetrics(parsePrometheusText(ACTIVE))).toEqual({
      unsealed: true,
      active: true,
      raftTerm: 3,
      raftAppliedIndex: 51,
      raftCommitIndex: 52,
      failureTolerance: 1,
      autopilotHealthy: true,
      requestP99Ms: 8.085618019104004,
      auditFailures: 2,
    });
  });

  it('a standby has no autopilot facts, and a NaN quantile is left out', () => {
    expect(summariseMetrics(parsePrometheusText(STANDBY))).toEqual({
      unsealed: true,
      active: false,
      raftTerm: 3,
    });
  });

  it('renders a table with one row per node, errors included', () => {
    const out = renderMetrics({
      'vault-1': summariseMetrics(parsePrometheusText(ACTIVE)),
      'vault-2': { error: 'HTTP 503: Vault is sealed' },
    });
    expect(out).toMatch(/^NODE\s+UNSEALED\s+ACTIVE\s+TERM/);
    expect(out).toMatch(/vault-1\s+yes\s+yes\s+3\s+51\s+52\s+1\s+8\.1\s+2/);
    expect(out).toContain('error: HTTP 503: Vault is sealed');
  });
});
