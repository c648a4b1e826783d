/**
 * `up`'s readiness checks, one per container kind with a gate (cluster/reconcile/order.ts): the
 * dev KMS holds the key, the unsealer serves transit and the nodes' token, each node answers on its
 * API, Prometheus answers. On timeout each attaches the container's last log lines.
 */
import type { Progress } from '../cluster/events.js';
import type { Clock } from '../cluster/poll.js';
import type { Gates } from '../cluster/reconcile/apply.js';
import { waitForContainer } from '../cluster/reconcile/wait.js';
import type { ContainerRuntime } from '../runtime/port.js';
import { containerName, nodeAddress, prometheusAddress } from '../spec/names.js';
import type { ClusterSpec } from '../spec/schema.js';
import type { StateDir } from '../state/state-dir.js';
import { renderCluster } from '../templates/render.js';
import { clientTlsFromState } from '../tls/tls.js';
import {
  configureUnsealer,
  type UnsealerResult,
  unsealerActions,
  withTransitToken,
} from '../unsealer/unsealer.js';
import type { VaultConnector } from '../vault/port.js';
import { ensureDevKmsKey } from './dev-kms.js';

export interface GateDeps {
  readonly runtime: ContainerRuntime;
  readonly connect: VaultConnector;
  readonly progress: Progress;
  readonly signal?: AbortSignal | undefined;
  readonly clock?: Clock;
}

/**
 * The checks for `up`. `onUnsealer` receives what the unsealer gate did; the gate hands back the
 * cluster rendered with the nodes' (perhaps new) token, so the nodes are planned again with it.
 */
export function upGates(
  spec: ClusterSpec,
  state: StateDir,
  deps: GateDeps,
  timeoutMs: number,
  onUnsealer: (u: UnsealerResult) => void,
): Gates {
  return {
    kms: async () => {
      deps.progress.step('waiting for the dev KMS and its key');
      const key = await ensureDevKmsKey(spec, { signal: deps.signal });
      if (key.created)
        deps.progress.info(`dev KMS: created the key ${key.alias} (${key.keyId}); it lives in memory only`);
      return undefined;
    },
    unsealer: async (gate, applied) => {
      const actions = unsealerActions(applied, gate.target);
      const u = await configureUnsealer(spec, state, deps, actions, { readyTimeoutMs: timeoutMs });
      onUnsealer(u);
      return withTransitToken(renderCluster(spec, state.root), u.token);
    },
    node: async (gate, applied) => {
      const node = spec.nodes.find((n) => containerName(spec, n) === gate.target);
      if (!node) throw new Error(`internal: no node runs in ${gate.target}`);
      if (applied.length > 0) deps.progress.step(`waiting for ${node.name} to answer`);
      const api = deps.connect({
        address: nodeAddress(spec, node),
        timeoutMs: 2000,
        tls: clientTlsFromState(spec, state),
      });
      await waitForContainer(gate.target, () => api.sealStatus(), deps, {
        what: `${node.name} to answer on ${api.address}`,
        doing: `starting ${node.name}`,
        timeoutMs,
        intervalMs: 100,
      });
      return undefined;
    },
    monitoring: async (gate) => {
      const address = prometheusAddress(spec);
      deps.progress.step(`waiting for Prometheus on ${address}`);
      const ready = async () => {
        const res = await fetch(`${address}/-/ready`, { signal: AbortSignal.timeout(2000) }).catch(
          () => undefined,
        );
        return res?.ok ? true : undefined;
      };
      await waitForContainer(gate.target, ready, deps, {
        what: `Prometheus to answer on ${address}`,
        doing: 'starting Prometheus',
        timeoutMs,
        intervalMs: 250,
      });
      return undefined;
    },
  };
}
