/**
 * The one-timer bound of the shared tier's Redis calls: a call that answers in time keeps its
 * answer or its error, a late one fails with the timeout error once its deadline passed (never
 * before), and the sweep stops when nothing waits.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Deadlines } from '../../src/client/deadlines.js';

class Late extends Error {}

describe('Deadlines', () => {
  let clock = 0;
  beforeEach(() => {
    vi.useFakeTimers();
    clock = 0;
  });
  afterEach(() => vi.useRealTimers());
  const make = (ms: number) =>
    new Deadlines(
      ms,
      () => new Late('late'),
      () => clock,
    );
  const advance = async (ms: number) => {
    clock += ms;
    await vi.advanceTimersByTimeAsync(ms);
  };

  it('passes on the answer or the error of a call that settles in time', async () => {
    const d = make(250);
    await expect(d.bound(Promise.resolve(7))).resolves.toBe(7);
    await expect(d.bound(Promise.reject(new Error('boom')))).rejects.toThrow('boom');
  });

  it('fails a call with the timeout error after its deadline, not before', async () => {
    const d = make(250);
    expect(d.tickMs).toBe(25);
    let settled: unknown;
    d.bound(new Promise(() => {})).catch((e: unknown) => {
      settled = e;
    });
    await advance(225);
    expect(settled).toBeUndefined();
    await advance(50);
    expect(settled).toBeInstanceOf(Late);
  });

  it('keeps an answer that comes before the sweep, and stops sweeping when nothing waits', async () => {
    const d = make(100);
    let answer!: (v: string) => void;
    const call = d.bound(new Promise<string>((r) => (answer = r)));
    await advance(50);
    answer('ok');
    await expect(call).resolves.toBe('ok');
    await advance(100);
    expect(vi.getTimerCount()).toBe(0);
  });
});
