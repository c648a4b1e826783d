import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { type LoadClient, runLoad } from '../../src/bench/load.js';

/** A client that answers every call on the next turn of the event loop, noting the signal's listeners. */
function fakeClient(signal: AbortSignal) {
  const seen: number[] = [];
  const answer = <T>(v: T) =>
    new Promise<T>((r) => {
      seen.push(getEventListeners(signal, 'abort').length);
      setImmediate(() => r(v));
    });
  const client: LoadClient = {
    readSecretWithMeta: (() =>
      answer({
        data: {},
        version: 1,
        stale: false,
        fromCache: false,
        tier: 'vault',
      })) as unknown as LoadClient['readSecretWithMeta'],
    writeSecret: () => answer({ version: 1 }),
    listSecrets: () => answer([]),
  };
  return { client, seen };
}

const profile = {
  users: 30,
  thinkMinMs: 1,
  thinkMaxMs: 3,
  readRatio: 0.5,
  durationMs: 200,
  warmupMs: 0,
  paths: ['a', 'b'],
};

describe('runLoad', () => {
  it('puts one abort listener on the signal for the whole run, however many users sleep at once', async () => {
    const ac = new AbortController();
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.name);
    process.on('warning', onWarning);
    try {
      const { client, seen } = fakeClient(ac.signal);
      const res = await runLoad(client, { ...profile, signal: ac.signal });
      expect(res.read.count + res.write.count).toBeGreaterThan(100);
      expect(Math.max(...seen)).toBe(1);
      expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
      const open = fakeClient(ac.signal);
      await runLoad(open.client, { ...profile, rate: 500, signal: ac.signal });
      expect(open.seen.length).toBeGreaterThan(50);
      expect(Math.max(...open.seen)).toBe(1);
      expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
      // The warning is emitted on a later tick.
      await new Promise((r) => setTimeout(r, 10));
      expect(warnings).not.toContain('MaxListenersExceededWarning');
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('an abort wakes every sleeping user at once and the run ends', async () => {
    const ac = new AbortController();
    const { client } = fakeClient(ac.signal);
    const started = performance.now();
    const run = runLoad(client, {
      ...profile,
      thinkMinMs: 5_000,
      thinkMaxMs: 5_000,
      durationMs: 60_000,
      signal: ac.signal,
    });
    setTimeout(() => ac.abort(), 20);
    const res = await run;
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(res.read.count + res.write.count).toBe(0);
  });
});
