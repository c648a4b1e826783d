/**
 * After a restore of another cluster's data, the nodes need that cluster's seal material (issue 26
 * item 9: a forced restore left every node sealed for 181 s, then hinted `vaultctl unseal`, which
 * does nothing for a static seal, and `vaultctl up` did not restart the nodes). What each seal
 * needs, said completely; and for the static seal, the part vaultctl can do: a node reads its seal
 * key only at start, so nodes that started with this cluster's key are restarted once the state
 * dir holds the snapshot's key.
 */
import type { Progress } from '../cluster/events.js';
import type { RunningCluster } from '../cluster/running.js';
import { RemoteError } from '../errors.js';
import type { SealType } from '../spec/schema.js';
import type { StateDir } from '../state/state-dir.js';
import { type SnapshotMeta, sealKeyId } from './meta.js';

/** What the nodes need to unseal another cluster's restored data, per seal type: complete and true. */
export function sourceSealAdvice(
  sealType: SealType | string,
  state: StateDir,
  containers: readonly string[],
  file: string,
): string {
  const restart = containers.length ? `docker restart ${containers.join(' ')}` : 'restart every node';
  switch (sealType) {
    case 'static':
      return (
        `the nodes need the source cluster's static seal key: keep a copy of ${state.sealKeyFile}, copy the source's seal.key over it (0600), ` +
        `then \`${restart}\` (a node reads its seal key only at start; \`vaultctl up\` does not restart a node whose container is unchanged). ` +
        `Before a restore, the same copy lets \`vaultctl snapshot restore ${file}\` do the restart itself`
      );
    case 'shamir':
      return "the nodes need the source cluster's unseal keys: `vaultctl unseal --prompt` on each sealed node, typing the source's shares (this cluster's stored shares do not open its data)";
    default:
      return `the nodes need the source cluster's ${sealType} key: the seal stanza must name the same key (the source's KMS key or transit key), reachable from the nodes, then \`${restart}\``;
  }
}

const sealedEverywhere = async (cluster: RunningCluster): Promise<boolean> => {
  const answers = await Promise.all(
    cluster.nodes.map((n) =>
      n
        .api({ token: undefined, timeoutMs: 2000 })
        .health()
        .then((h) => h.initialized && h.sealed)
        .catch(() => false),
    ),
  );
  return answers.every(Boolean);
};

/**
 * A forced restore on the static seal: refuses at once (no 3-minute wait) when the state dir's key
 * is not the snapshot's, with what to do; when it is (the operator copied the source's key as
 * advised), restarts nodes that stay sealed because they started with the earlier key.
 */
export async function reloadStaticSealKey(
  cluster: RunningCluster,
  meta: SnapshotMeta,
  state: StateDir,
  deps: { readonly progress: Progress; readonly signal?: AbortSignal | undefined },
  opts: {
    readonly doing: string;
    readonly file: string;
    readonly sealedPolls?: number;
    readonly pollMs?: number;
    readonly settleMs?: number;
  },
): Promise<void> {
  const containers = cluster.nodes.flatMap((n) => (n.container ? [n.container] : []));
  if (meta.sealKeyId && meta.sealKeyId !== sealKeyId(state))
    throw new RemoteError(
      opts.doing,
      `the data of ${meta.file} is restored, but it is sealed with another static seal key than ${state.sealKeyFile}: every node stays sealed`,
      sourceSealAdvice('static', state, containers, opts.file),
    );
  // Sealed on every node for several polls in a row: not the restore's own pause (about 5 s), a
  // key the nodes loaded at start that does not open the data. Unsealed somewhere after that
  // pause: the nodes already hold the key.
  const need = opts.sealedPolls ?? 3;
  const pollMs = opts.pollMs ?? 1000;
  const settleMs = opts.settleMs ?? 8000;
  const start = Date.now();
  let inRow = 0;
  for (let i = 0; i < 30 && inRow < need; i++) {
    if (deps.signal?.aborted) return;
    const sealed = await sealedEverywhere(cluster);
    if (!sealed && Date.now() - start >= settleMs) return;
    inRow = sealed ? inRow + 1 : 0;
    if (inRow < need) await new Promise((r) => setTimeout(r, pollMs));
  }
  if (inRow < need) return;
  deps.progress.step(
    `restarting ${containers.join(', ')}: they started with the earlier seal key and read ${state.sealKeyFile} only at start`,
  );
  for (const n of cluster.nodes) await n.restart(10);
}
