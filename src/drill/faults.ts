/**
 * Injecting and healing each fault the drill knows, through the nodes' handles: kill (SIGKILL),
 * stop (graceful), pause (frozen process) and partition (cut off from its peers, still running),
 * and step-down (the leader gives up leadership over the API: no container needed, so it works
 * on a cluster given by addresses).
 */
import type { Progress } from '../cluster/events.js';
import type { NodeHandle } from '../cluster/running.js';
import type { PartitionMethod } from '../runtime/port.js';
import type { FaultKind } from './report.js';
import { now } from './traffic.js';

/** A fault on some nodes: inject it once, heal it (at most) once. */
export interface Fault {
  readonly kind: FaultKind;
  readonly victims: readonly NodeHandle[];
  /** The partition method used, once a partition is injected. */
  readonly method: PartitionMethod | undefined;
  /**
   * Injects the fault; returns the fault's time: when it is in effect (kill, pause, partition:
   * when the call returns), or, for a graceful stop, when the shutdown begins (the call returns
   * once the process exited).
   */
  inject(): Promise<number>;
  heal(): Promise<void>;
}

/** The fault `kind` on `victims`; a partition cuts each victim off from the other `nodes`. */
export function makeFault(
  kind: FaultKind,
  victims: readonly NodeHandle[],
  nodes: readonly NodeHandle[],
  opts: {
    partitionMethod?: PartitionMethod | undefined;
    progress: Progress;
    /** `sys/step-down` on the victim, with the drill's token (the step-down fault). */
    stepDown?: (victim: NodeHandle) => Promise<void>;
  },
): Fault {
  let method: PartitionMethod | undefined;
  const peersOf = (v: NodeHandle) => nodes.filter((n) => n !== v);
  const each = (f: (v: NodeHandle) => Promise<unknown>) => Promise.all(victims.map(f));
  return {
    kind,
    victims,
    get method() {
      return method;
    },
    async inject() {
      if (kind === 'kill') {
        await each((v) => v.kill('SIGKILL'));
      } else if (kind === 'stop') {
        const at = now();
        await each((v) => v.stop(30));
        return at;
      } else if (kind === 'pause') {
        await each((v) => v.pause());
      } else if (kind === 'step-down') {
        if (!opts.stepDown) throw new Error('makeFault: the step-down fault needs opts.stepDown');
        await each((v) => opts.stepDown!(v));
      } else {
        const v = victims[0]!;
        method = await v.partition(peersOf(v), opts.partitionMethod);
        if (method === 'network')
          opts.progress.warn(
            'partition by network disconnect: the client cannot reach the cut-off node either (the peers method needs root, nsenter and iptables)',
          );
      }
      return now();
    },
    async heal() {
      if (kind === 'step-down') return; // the node stays up and rejoins as a standby by itself
      if (kind === 'pause') await each((v) => v.unpause());
      else if (kind === 'partition') await each((v) => v.heal(peersOf(v), method ?? 'peers'));
      else await each((v) => v.start());
    },
  };
}
