/**
 * The unsealer as the seal drill's seal backend: stopping its container is the seed's "KMS
 * unavailable"; starting it again resolves once it serves (unsealed on its static seal, active).
 */
import type { Clock } from '../cluster/poll.js';
import { pollUntil } from '../cluster/poll.js';
import type { SealBackend } from '../drill/seal.js';
import type { ContainerRuntime } from '../runtime/port.js';
import { unsealerAddress, unsealerContainerName } from '../spec/names.js';
import type { ClusterSpec } from '../spec/schema.js';
import type { StateDir } from '../state/state-dir.js';
import type { VaultConnector, VaultTls } from '../vault/port.js';
import { renewTransitToken } from './unsealer.js';

export function unsealerBackend(
  spec: ClusterSpec,
  deps: {
    readonly runtime: ContainerRuntime;
    readonly connect: VaultConnector;
    readonly tls: VaultTls | undefined;
    readonly state: StateDir;
    readonly clock?: Clock;
  },
): SealBackend {
  const name = unsealerContainerName(spec);
  const api = deps.connect({ address: unsealerAddress(spec), timeoutMs: 2000, tls: deps.tls });
  return {
    description: `transit (unsealer ${name})`,
    stop: () => deps.runtime.stopContainer(name, 10),
    async start() {
      await deps.runtime.startContainer(name);
      await pollUntil(
        async () => {
          const h = await api.health();
          return h.initialized && !h.sealed && !h.standby ? true : undefined;
        },
        {
          what: `the unsealer ${name} to serve again`,
          timeoutMs: 60_000,
          intervalMs: 100,
          ...(deps.clock ? { clock: deps.clock } : {}),
        },
      );
      // The servers' own renewal does not survive an outage at renewal time: renew it here.
      await renewTransitToken(deps.state, api);
    },
  };
}
