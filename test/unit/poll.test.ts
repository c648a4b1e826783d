import { describe, expect, it } from 'vitest';
import { durationMs } from '../../src/bootstrap/bootstrap-context.js';
import { type Clock, PollTimeoutError, parseDuration, pollUntil } from '../../src/cluster/poll.js';
import { CancelledError, UsageError } from '../../src/errors.js';

/** A clock whose time moves only when something sleeps. */
class FakeClock implements Clock {
  t = 1000;
  readonly sleeps: number[] = [];
  now(): number {
    return this.t;
  }
  async sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) throw signal.reason;
    this.sleeps.push(ms);
    this.t += ms;
  }
}

describe('pollUntil', () => {
  it('returns the first defined value', async () => {
    const clock = new FakeClock();
    const answers = [undefined, undefined, 'ready', 'later'];
    let calls = 0;
    const v = await pollUntil(async () => answers[calls++], {
      what: 'vault-1 to answer',
      timeoutMs: 10_000,
      intervalMs: 200,
      clock,
    });
    expect(v).toBe('ready');
    expect(calls).toBe(3);
    expect(clock.sleeps).toEqual([200, 200]);
  });

  it('returns falsy values other than undefined', async () => {
    const clock = new FakeClock();
    expect(await pollUntil(async () => 0, { what: 'x', timeoutMs: 1000, clock })).toBe(0);
    expect(await pollUntil(async () => false, { what: 'x', timeoutMs: 1000, clock })).toBe(false);
    expect(clock.sleeps).toEqual([]);
  });

  it('treats a thrown error as "not yet"', async () => {
    const clock = new FakeClock();
    let calls = 0;
    const v = await pollUntil(
      async () => {
        calls++;
        if (calls < 3) throw new Error('connect ECONNREFUSED');
        return 'up';
      },
      { what: 'vault-1 to answer', timeoutMs: 10_000, clock },
    );
    expect(v).toBe('up');
    expect(calls).toBe(3);
  });

  it('times out after timeoutMs with PollTimeoutError naming what it waited for', async () => {
    const clock = new FakeClock();
    let calls = 0;
    const p = pollUntil(
      async () => {
        calls++;
        return undefined;
      },
      { what: 'vault-2 to unseal', timeoutMs: 1000, intervalMs: 250, clock },
    );
    const err = await p.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PollTimeoutError);
    expect((err as Error).message).toBe('timed out after 1.0 s waiting for vault-2 to unseal');
    expect(clock.t - 1000).toBe(1000);
    expect(calls).toBe(5);
    // The last sleep never overshoots the deadline.
    expect(clock.sleeps.reduce((a, b) => a + b, 0)).toBe(1000);
  });

  it('does not overshoot the deadline when the interval does not divide it', async () => {
    const clock = new FakeClock();
    await expect(
      pollUntil(async () => undefined, { what: 'x', timeoutMs: 700, intervalMs: 300, clock }),
    ).rejects.toThrow(PollTimeoutError);
    expect(clock.sleeps).toEqual([300, 300, 100]);
  });

  it('puts the last error message in the timeout error and keeps it', async () => {
    const clock = new FakeClock();
    const boom = new Error('connect ECONNREFUSED 127.0.0.1:8200');
    const err = await pollUntil(
      async () => {
        throw boom;
      },
      { what: 'vault-1 to answer', timeoutMs: 500, clock },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PollTimeoutError);
    expect((err as Error).message).toBe(
      'timed out after 0.5 s waiting for vault-1 to answer (last error: connect ECONNREFUSED 127.0.0.1:8200)',
    );
    expect((err as PollTimeoutError).lastResult).toBe(boom);
  });

  it('forgets an earlier error once a later check answers "not yet" without one', async () => {
    const clock = new FakeClock();
    let calls = 0;
    const err = await pollUntil(
      async () => {
        if (calls++ === 0) throw new Error('early failure');
        return undefined;
      },
      { what: 'x', timeoutMs: 500, clock },
    ).catch((e: unknown) => e);
    expect((err as Error).message).not.toContain('early failure');
  });

  it('gives CancelledError at once for an already aborted signal', async () => {
    const clock = new FakeClock();
    const ac = new AbortController();
    ac.abort();
    let calls = 0;
    const err = await pollUntil(
      async () => {
        calls++;
        return 'x';
      },
      { what: 'vault-1 to answer', timeoutMs: 1000, signal: ac.signal, clock },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CancelledError);
    expect((err as CancelledError).exitCode).toBe(130);
    expect((err as CancelledError).render()).toBe('Error waiting for vault-1 to answer: cancelled');
    expect(calls).toBe(0);
  });

  it('gives CancelledError when the signal fires while waiting', async () => {
    const clock = new FakeClock();
    const ac = new AbortController();
    let calls = 0;
    const err = await pollUntil(
      async () => {
        if (++calls === 2) ac.abort();
        return undefined;
      },
      { what: 'x', timeoutMs: 60_000, signal: ac.signal, clock },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CancelledError);
    expect(calls).toBe(2);
  });

  it('ends the wait at once on a UsageError from the check', async () => {
    const clock = new FakeClock();
    const refused = new UsageError('unsealing vault-2', 'no key shares in the state dir');
    let calls = 0;
    const err = await pollUntil(
      async () => {
        calls++;
        throw refused;
      },
      { what: 'x', timeoutMs: 10_000, clock },
    ).catch((e: unknown) => e);
    expect(err).toBe(refused);
    expect(calls).toBe(1);
    expect(clock.sleeps).toEqual([]);
  });

  it('passes a CancelledError thrown by the check straight through', async () => {
    const clock = new FakeClock();
    const cancelled = new CancelledError('reading the seal status');
    await expect(
      pollUntil(async () => Promise.reject(cancelled), { what: 'x', timeoutMs: 1000, clock }),
    ).rejects.toBe(cancelled);
  });
});

describe('parseDuration', () => {
  it.each([
    ['500ms', 500],
    ['10s', 10_000],
    ['5m', 300_000],
    ['2h', 7_200_000],
    ['3', 3000],
    ['1.5s', 1500],
    [' 10s ', 10_000],
    ['1h30m', 5_400_000],
    ['30d', 2_592_000_000],
    ['1m30s', 90_000],
  ])('%s is %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['abc', '', '10x', '-5s', '1h 30m', 'm', '5mm'])('%j is not a duration', (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });
});

describe('durationMs (Go durations from the API)', () => {
  it.each([
    ['24h0m0s', 86_400_000],
    ['1h30m', 5_400_000],
    ['10s', 10_000],
    ['500ms', 500],
    ['1m0.5s', 60_500],
    ['2h45m30s', 9_930_000],
  ])('%s is %d ms', (text, ms) => {
    expect(durationMs(text)).toBe(ms);
  });

  it.each(['x', '', '10', '10s junk', '10 s'])('%j is NaN', (text) => {
    expect(durationMs(text)).toBeNaN();
  });
});
