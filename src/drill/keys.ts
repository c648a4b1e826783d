/** The drill's keys after the traffic: every acknowledged write read back, and every key removed. */
import type { RunningCluster } from '../cluster/running.js';
import { RemoteError } from '../errors.js';
import { VaultRequestError } from '../vault/port.js';
import type { WriteRecord } from './report.js';
import type { DrillNode } from './traffic.js';

async function inBatches<T>(
  items: readonly T[],
  size: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(fn));
}

const drillClient = async (cluster: RunningCluster, nodes: readonly DrillNode[]) => {
  const active = await cluster.active({ timeoutMs: 2000 });
  return nodes.find((n) => n.name === active?.name);
};

/** Reads every acknowledged write back from the active node; returns the sequence numbers that did not. */
export async function readBack(
  cluster: RunningCluster,
  nodes: readonly DrillNode[],
  mount: string,
  prefix: string,
  writes: readonly WriteRecord[],
  doing: string,
): Promise<number[]> {
  const leader = await cluster
    .waitFor('an active node to read the writes back from', () => drillClient(cluster, nodes), {
      timeoutMs: 30_000,
      intervalMs: 500,
    })
    .catch(() => undefined);
  if (!leader)
    throw new RemoteError(
      doing,
      'no active node to read the acknowledged writes back from',
      '`vaultctl health`',
    );
  const lost: number[] = [];
  const acked = writes.filter((w) => w.ackAt !== undefined);
  await inBatches(acked, 16, async (w) => {
    let lastErr: unknown;
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const res = await leader.api.call<{ data?: { data?: { seq?: number } } }>(
          'GET',
          `/${mount}/data/${prefix}/${w.seq}`,
          'reading a drill key back',
          undefined,
          5000,
        );
        if (res.data?.data?.seq !== w.seq) lost.push(w.seq);
        return;
      } catch (err) {
        if (err instanceof VaultRequestError && err.status === 404) {
          lost.push(w.seq);
          return;
        }
        lastErr = err;
      }
    }
    throw new RemoteError(
      doing,
      `reading drill key ${w.seq} back failed: ${(lastErr as Error).message}`,
      'the cluster may still be recovering: vaultctl health says when it is healthy',
    );
  });
  return lost.sort((a, b) => a - b);
}

/** Removes the drill's keys through the active node; returns how many could not be removed. */
export async function removeKeys(
  cluster: RunningCluster,
  nodes: readonly DrillNode[],
  mount: string,
  keys: readonly string[],
): Promise<number> {
  const leader = await drillClient(cluster, nodes).catch(() => undefined);
  if (!leader) return keys.length;
  let left = 0;
  await inBatches(keys, 16, async (k) => {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await leader.api.call('DELETE', `/${mount}/metadata/${k}`, 'removing a drill key', undefined, 5000);
        return;
      } catch (err) {
        if (err instanceof VaultRequestError && err.status === 404) return;
      }
    }
    left++;
  });
  return left;
}
