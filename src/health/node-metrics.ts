/**
 * A few key metrics per node, read from `/v1/sys/metrics?format=prometheus` (`vaultctl health
 * --metrics`). Parsing and summarising are pure; `readNodeMetrics` does the request.
 *
 * Standbys answer with their own metrics when asked with a token (OpenBao 2.7); without a token
 * only when `unauthenticated_metrics_access` is on. Autopilot metrics exist on the active node
 * only; the request-time summary only on nodes that served requests within the retention time.
 */

import { request as httpRequest } from 'node:http';
import { type Agent, request } from 'node:https';
import type { VaultTls } from '../vault/port.js';

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** The Prometheus text format, samples only (comments and types skipped). */
export function parsePrometheusText(text: string): Sample[] {
  const out: Sample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[l[1]!] = l[2]!.replace(/\\(.)/g, '$1');
    const value = Number(m[4]);
    if (!Number.isNaN(value) || m[4] === 'NaN') out.push({ name: m[1]!, labels, value });
  }
  return out;
}

export interface NodeMetrics {
  readonly unsealed?: boolean;
  readonly active?: boolean;
  readonly raftTerm?: number;
  readonly raftAppliedIndex?: number;
  readonly raftCommitIndex?: number;
  /** Active node only. */
  readonly failureTolerance?: number;
  readonly autopilotHealthy?: boolean;
  /** 99th percentile of vault_core_handle_request in milliseconds, when the node served requests lately. */
  readonly requestP99Ms?: number;
  /** vault_audit_log_request_failure + vault_audit_log_response_failure, when exported. */
  readonly auditFailures?: number;
}

export function summariseMetrics(samples: readonly Sample[]): NodeMetrics {
  const first = (name: string, match: Record<string, string> = {}) =>
    samples.find((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v))?.value;
  const flag = (v: number | undefined) => (v === undefined ? undefined : v === 1);
  const failures = samples.filter(
    (s) => s.name === 'vault_audit_log_request_failure' || s.name === 'vault_audit_log_response_failure',
  );
  const m: Record<string, number | boolean | undefined> = {
    unsealed: flag(first('vault_core_unsealed')),
    active: flag(first('vault_core_active')),
    raftTerm: first('vault_raft_storage_stats_term'),
    raftAppliedIndex: first('vault_raft_storage_stats_applied_index'),
    raftCommitIndex: first('vault_raft_storage_stats_commit_index'),
    failureTolerance: first('vault_autopilot_failure_tolerance'),
    autopilotHealthy: flag(first('vault_autopilot_healthy')),
    requestP99Ms: first('vault_core_handle_request', { quantile: '0.99' }),
    auditFailures: failures.length > 0 ? failures.reduce((a, s) => a + s.value, 0) : undefined,
  };
  // A NaN quantile means "no observation in the window": leave it out.
  return Object.fromEntries(
    Object.entries(m).filter(([, v]) => v !== undefined && !(typeof v === 'number' && Number.isNaN(v))),
  ) as NodeMetrics;
}

export interface ReadMetricsOptions {
  readonly token?: string | undefined;
  readonly tls?: VaultTls | undefined;
  readonly timeoutMs?: number;
  /** A keep-alive agent for repeated reads over https (ignored over http). */
  readonly agent?: Agent | undefined;
}

/** GET /v1/sys/metrics?format=prometheus. Errors name the status, never the token. */
export function fetchMetricsText(address: string, opts: ReadMetricsOptions = {}): Promise<string> {
  const url = new URL('/v1/sys/metrics?format=prometheus', address);
  const doRequest = url.protocol === 'https:' ? request : httpRequest;
  return new Promise((resolve, reject) => {
    const req = doRequest(
      url,
      {
        method: 'GET',
        headers: opts.token ? { 'X-Vault-Token': opts.token } : {},
        timeout: opts.timeoutMs ?? 3000,
        ...(opts.agent && url.protocol === 'https:' ? { agent: opts.agent } : {}),
        ...(opts.tls
          ? { ca: opts.tls.ca, ...(opts.tls.cert ? { cert: opts.tls.cert, key: opts.tls.key } : {}) }
          : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode === 200) return resolve(body);
          let why = body.slice(0, 120);
          try {
            why = (JSON.parse(body) as { errors?: string[] }).errors?.join('; ') ?? why;
          } catch {
            // not JSON: keep the text
          }
          reject(new Error(`HTTP ${res.statusCode}: ${why}`));
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${opts.timeoutMs ?? 3000} ms`)));
    req.on('error', (err) => reject(err));
    req.end();
  });
}

export async function readNodeMetrics(
  address: string,
  opts: ReadMetricsOptions = {},
): Promise<NodeMetrics | { error: string }> {
  try {
    return summariseMetrics(parsePrometheusText(await fetchMetricsText(address, opts)));
  } catch (err) {
    return { error: (err as Error).message };
  }
}
