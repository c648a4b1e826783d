/**
 * `up`'s readiness checks, one per container kind with a gate (cluster/reconcile/order.ts): the
 * dev KMS holds the key, the unsealer serves transit and the nodes' token, each node answers on its
 * API, Prometheus answers. On timeout each attaches the container's last log lines.
 */
import type { Progress } from '../cluster/events.js';
import type { Clock } from '../cluster/poll.js';
import { PollTimeoutError, pollUntil } from '../cluster/poll.js';
import type { Gates } from '../cluster/reconcile/apply.js';
import { RemoteError } from '../errors.js';
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

/** Polls `check` until it answers; on timeout a RemoteError with the container's last log lines. */
async function waitContainer<T>(
  container: string,
  what: string,
  doing: string,
  check: () => Promise<T | undefined>,
  deps: GateDeps,
  opts: { timeoutMs: number; intervalMs: number },
): Promise<void> {
  try {
    await pollUntil(check, {
      what,
      ...opts,
      signal: deps.signal,
      ...(deps.clock ? { clock: deps.clock } : {}),
    });
  } catch (err) {
    if (!(err instanceof PollTimeoutError)) throw err;
    const logs = await deps.runtime.containerLogs(container, 20).catch(() => '(log not available)');
    throw new RemoteError(
      doing,
      `${err.message}\n--- last lines of ${container} ---\n${logs.trimEnd()}`,
      `\`docker logs ${container}\` shows the whole log`,
    );
  }
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
      await waitContainer(
        gate.target,
        `${node.name} to answer on ${api.address}`,
        `starting ${node.name}`,
        () => api.sealStatus(),
        deps,
        {
          timeoutMs,
          intervalMs: 100,
        },
      );
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
      await waitContainer(
        gate.target,
        `Prometheus to answer on ${address}`,
        'starting Prometheus',
        ready,
        deps,
        {
          timeoutMs,
          intervalMs: 250,
        },
      );
      return undefined;
    },
  };
}
