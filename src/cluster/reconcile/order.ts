/**
 * Start order as data. The executor knows no container kind: it walks the graph `planUp` builds
 * from these two tables. A new container kind (an agent, a dev S3, a syslog receiver) is a line
 * here and a container in the rendered cluster, not a new loop.
 */

/**
 * Kinds (`io.vaultctl.kind`) whose readiness gate a kind waits for before its containers are
 * removed, created or started: a node whose seal is unreachable exits at once, so the dev KMS and
 * the unsealer must serve the seal key first.
 */
export const NEEDS: Readonly<Record<string, readonly string[]>> = {
  node: ['kms', 'unsealer'],
  // The agent saves snapshots from the nodes; started once they answer.
  agent: ['node'],
};

/**
 * Kinds with a readiness gate, and why it matters. The caller of `applyPlan` supplies the check
 * (`Gates`; a kind without one passes, for callers that wait their own way); it runs on
 * every reconcile, so it may also renew what the kind hands out (the unsealer's node token).
 */
export const READY_GATES: Readonly<Record<string, string>> = {
  kms: "the dev KMS holds the nodes' awskms key",
  unsealer: "the unsealer serves the nodes' transit key and their token",
  node: 'the node answers on its API (any seal state)',
  monitoring: 'Prometheus answers /-/ready',
};
