/**
 * `init` works on the cluster its state dir describes. Without the state dir (no saved spec) the
 * spec falls back to defaults, whose ports may be another cluster's: `init --cluster mycluster`
 * on a cluster running on 8700-8704 connected to 127.0.0.1:8200 (issue 26 item 4). So the saved
 * spec must be there; the containers found by label say what runs without it.
 */
import { existsSync } from 'node:fs';
import { UsageError } from '../errors.js';
import type { ContainerRuntime } from '../runtime/port.js';
import { clusterLabels } from '../spec/names.js';
import type { ClusterSpec } from '../spec/schema.js';
import type { StateDir } from '../state/state-dir.js';

/** Refuses (exit 1, nothing contacted but Docker) when the cluster's state dir holds no saved spec. */
export async function requireStateDir(
  spec: ClusterSpec,
  state: StateDir,
  runtime: () => ContainerRuntime,
  doing: string,
): Promise<void> {
  if (existsSync(state.specFile)) return;
  const running = await runtime()
    .listContainers(clusterLabels(spec))
    .catch(() => undefined);
  const names = running?.map((c) => c.name).sort() ?? [];
  if (names.length > 0)
    throw new UsageError(
      doing,
      `the state dir ${state.root} is missing (no ${state.specFile}), but cluster ${spec.name} runs (${names.join(', ')}): without it vaultctl knows neither its ports nor its keys, and the default ports may be another cluster's`,
      `put the state dir back from your backup (or point --state-dir / VAULTCTL_STATE_DIR at it); nothing was contacted`,
    );
  throw new UsageError(
    doing,
    `the state dir ${state.root} is missing (no ${state.specFile}) and no container of cluster ${spec.name} runs`,
    `\`vaultctl up\` creates the cluster and its state dir, then run \`vaultctl init\`; or point --state-dir / VAULTCTL_STATE_DIR at an existing state dir`,
  );
}
