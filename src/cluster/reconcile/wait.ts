/** The wait of a readiness gate: polls a check; on timeout, the container's last log lines. */
import { RemoteError } from '../../errors.js';
import type { ContainerRuntime } from '../../runtime/port.js';
import { type Clock, PollTimeoutError, pollUntil } from '../poll.js';

export interface ContainerWaitDeps {
  readonly runtime: ContainerRuntime;
  readonly signal?: AbortSignal | undefined;
  readonly clock?: Clock;
}

/** Polls `check` until it answers; on timeout a RemoteError "Error <doing>" with `container`'s log. */
export async function waitForContainer<T>(
  container: string,
  check: () => Promise<T | undefined>,
  deps: ContainerWaitDeps,
  opts: { what: string; doing: string; timeoutMs: number; intervalMs: number },
): Promise<T> {
  try {
    return await pollUntil(check, {
      what: opts.what,
      timeoutMs: opts.timeoutMs,
      intervalMs: opts.intervalMs,
      signal: deps.signal,
      ...(deps.clock ? { clock: deps.clock } : {}),
    });
  } catch (err) {
    if (!(err instanceof PollTimeoutError)) throw err;
    const logs = await deps.runtime.containerLogs(container, 20).catch(() => '(log not available)');
    throw new RemoteError(
      opts.doing,
      `${err.message}\n--- last lines of ${container} ---\n${logs.trimEnd()}`,
      `\`docker logs ${container}\` shows the whole log`,
    );
  }
}
