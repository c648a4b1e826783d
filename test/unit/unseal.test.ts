/** `unsealCluster` through fake nodes and a fake clock: what it says and how long it waits. */
import { describe, expect, it } from 'vitest';
import { AUTO_UNSEAL_WAIT_MS, unsealCluster } from '../../src/bootstrap/unseal.js';
import type { Clock } from '../../src/cluster/poll.js';
import type { SealStatus, VaultConnector, VaultNode } from '../../src/vault/port.js';
import { RecordingProgress } from '../helpers/progress.js';

class FakeClock implements Clock {
  t = 0;
  now() {
    return this.t;
  }
  async sleep(ms: number) {
    this.t += ms;
  }
}

/** Nodes whose seal status is fixed: a static-seal node sealed by hand never unseals by itself. */
function sealedNodes(type: string): VaultConnector {
  const status: SealStatus = { type, initialized: true, sealed: true, t: 3, n: 5, progress: 0 };
  return ({ address }) =>
    ({
      address,
      sealStatus: async () => status,
      unseal: async () => {
        throw new Error('a key share must never be sent to an auto-unseal node');
      },
    }) as unknown as VaultNode;
}

describe('unsealCluster on an auto-unseal cluster sealed by hand', () => {
  it('says at once that the node unseals itself on restart, waits only briefly, and names the restart', async () => {
    const clock = new FakeClock();
    const progress = new RecordingProgress();
    let keysAsked = false;
    const res = await unsealCluster(
      [{ name: 'vault-1', address: 'https://n1:8200', container: 'demo-vault-1' }],
      {
        progress,
        connect: sealedNodes('static'),
        clock,
        keys: async () => {
          keysAsked = true;
          return ['k1', 'k2', 'k3'];
        },
      },
    );
    expect(res).toEqual([{ name: 'vault-1', before: 'sealed', after: 'sealed' }]);
    expect(keysAsked).toBe(false);
    expect(clock.t).toBeLessThanOrEqual(AUTO_UNSEAL_WAIT_MS);
    expect(AUTO_UNSEAL_WAIT_MS).toBeLessThan(60_000);
    const text = progress.lines.join('\n');
    expect(progress.lines[0]).toContain('unseals itself when it starts');
    expect(text).toContain('docker restart demo-vault-1');
    expect(text).toContain('key shares cannot unseal an auto-unseal node');
  });
});
