/**
 * The drill's live traffic: a role monitor, a writer and readers, each recording every request it
 * makes (and, for a failed one, the node and the error) for report.ts to judge.
 */
import type { NodeHandle } from '../cluster/running.js';
import { VaultctlError } from '../errors.js';
import type { VaultNode } from '../vault/port.js';
import { VaultRequestError } from '../vault/port.js';
import type { DrillConfig } from './config.js';
import type { NodeRole, ReadRecord, RequestError, RoleSample, WriteRecord } from './report.js';

/** One node as the drill drives it: its handle, and a client with short timeouts for the traffic. */
export interface DrillNode {
  readonly name: string;
  readonly handle: NodeHandle;
  readonly api: VaultNode;
}

export const now = () => performance.now();
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * What a failed request hit, in the report's terms. The low-level code (ECONNREFUSED,
 * ECONNRESET, ENOTFOUND, ECONNABORTED) is kept: it tells a dead node from a reset keep-alive
 * socket, an unresolvable redirect or a client that gave up waiting.
 */
export function requestError(node: string, err: unknown, startedAt: number): RequestError {
  const tookMs = Math.round(now() - startedAt);
  if (err instanceof VaultRequestError) {
    const code = (err.cause as { code?: unknown } | undefined)?.code;
    const withCode = typeof code === 'string' && !err.message.includes(code) ? ` [${code}]` : '';
    return {
      node,
      kind: err.kind,
      ...(err.status !== undefined ? { status: err.status } : {}),
      message: `${err.doing}: ${err.message}${withCode}`,
      tookMs,
    };
  }
  const message = err instanceof VaultctlError ? `${err.doing}: ${err.message}` : (err as Error).message;
  return { node, kind: 'other', message, tookMs };
}

/** Samples every node's role every `intervalMs` until stopped. */
export class RoleMonitor {
  readonly samples: RoleSample[] = [];
  private stopped = false;
  private loops: Promise<void>[] = [];

  constructor(
    private readonly nodes: readonly DrillNode[],
    private readonly intervalMs = 100,
  ) {}

  start(): void {
    this.loops = this.nodes.map(async (n) => {
      while (!this.stopped) {
        const sentAt = now();
        let role: NodeRole;
        try {
          const h = await n.api.health();
          role = !h.initialized || h.sealed ? 'sealed' : h.standby ? 'standby' : 'active';
        } catch {
          role = 'down';
        }
        this.samples.push({ node: n.name, sentAt, role });
        const wait = this.intervalMs - (now() - sentAt);
        if (wait > 0) await sleep(wait);
      }
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.loops);
  }
}

/**
 * Numbered writes at a fixed rate, as a careful application client sends them: each goes to the
 * node that answered last, then once to each other node. When every node failed, the client stops
 * sending and waits behind one gate, while probes try every node every 100 ms (at most one in
 * flight per node); the first probe that is acknowledged opens the gate. Without the gate,
 * hundreds of retrying writes would flood a cluster that is electing a leader, and the drill would
 * measure its own load.
 *
 * Behind the gate each node's sys/health is also polled every 50 ms (a node answers it itself,
 * never forwarding it): a node that says it is active gets a probe write at once, even while an
 * earlier probe to it still hangs. Measured (bench/election-gap.mjs): a write sent to a standby
 * just before the leader dies hangs in the standby's forwarding to the dead leader until the
 * attempt times out (1 s), long after that standby has become the active node itself.
 */
export class Writer {
  readonly writes: WriteRecord[] = [];
  private preferred: number;
  private stopped = false;
  private loop: Promise<void> = Promise.resolve();
  private readonly inflight = new Set<Promise<void>>();
  private gate: Promise<void> | undefined;
  private probing: Promise<void> = Promise.resolve();
  private watching: Promise<void> = Promise.resolve();

  constructor(
    /** Where writes go: the nodes, or one address (the endpoint) as a single-address client sends them. */
    private readonly nodes: readonly Pick<DrillNode, 'name' | 'api'>[],
    private readonly mount: string,
    private readonly prefix: string,
    private readonly cfg: DrillConfig,
    preferred: number,
  ) {
    this.preferred = preferred;
  }

  start(): void {
    const interval = 1000 / this.cfg.rate;
    const t0 = now();
    this.loop = (async () => {
      for (let seq = 0; !this.stopped; seq++) {
        const due = t0 + seq * interval;
        const wait = due - now();
        if (wait > 0) await sleep(wait);
        if (this.stopped) break;
        const rec: WriteRecord = { seq, issuedAt: now(), attempts: 0 };
        this.writes.push(rec);
        const p = this.write(rec).finally(() => this.inflight.delete(p));
        this.inflight.add(p);
      }
    })();
  }

  private attempt(
    idx: number,
    path: string,
    data: Record<string, unknown>,
    deadline: number,
  ): Promise<unknown> {
    return this.nodes[idx]!.api.call(
      'POST',
      `/${this.mount}/data/${path}`,
      'writing a drill key',
      { data },
      Math.min(this.cfg.attemptTimeoutMs, Math.max(1, deadline - now())),
    );
  }

  private async write(rec: WriteRecord): Promise<void> {
    const n = this.nodes.length;
    const deadline = rec.issuedAt + this.cfg.writeDeadlineMs;
    while (now() < deadline) {
      if (this.gate) {
        await Promise.race([this.gate, sleep(Math.max(0, deadline - now()))]);
        if (this.stopped) return; // the round is over while no node took writes: this one failed
        continue;
      }
      const first = this.preferred;
      for (let k = 0; k < n && now() < deadline; k++) {
        const idx = (first + k) % n;
        rec.attempts++;
        const sentAt = now();
        try {
          await this.attempt(idx, `${this.prefix}/${rec.seq}`, { seq: rec.seq }, deadline);
          rec.ackAt = now();
          rec.node = this.nodes[idx]!.name;
          this.preferred = idx;
          return;
        } catch (err) {
          rec.lastError = requestError(this.nodes[idx]!.name, err, sentAt);
          if (this.preferred === idx) this.preferred = (idx + 1) % n;
        }
      }
      this.closeGate();
    }
  }

  /** Every node failed: hold the writes until a probe write is acknowledged (or the writer stops). */
  private closeGate(): void {
    if (this.gate) return;
    let resolveOpen!: () => void;
    this.gate = new Promise<void>((r) => {
      resolveOpen = r;
    });
    const gate = this.gate;
    let opened = false;
    const open = () => {
      if (opened) return;
      opened = true;
      if (this.gate === gate) this.gate = undefined;
      resolveOpen();
    };
    this.probing = (async () => {
      const probes: Promise<void>[] = [];
      // Every 100 ms, one probe to each node that has none in flight (a frozen node holds one
      // probe until it times out instead of collecting ten).
      const busy = new Set<number>();
      while (!opened && !this.stopped) {
        for (let idx = 0; idx < this.nodes.length; idx++) {
          if (busy.has(idx)) continue;
          busy.add(idx);
          probes.push(
            this.attempt(
              idx,
              `${this.prefix}/probe`,
              { probe: true },
              now() + this.cfg.attemptTimeoutMs,
            ).then(
              () => {
                if (!opened) this.preferred = idx;
                open();
              },
              () => {
                busy.delete(idx);
              },
            ),
          );
        }
        await Promise.race([gate, sleep(100)]);
      }
      open();
      await Promise.all(probes);
    })();
    this.watching = this.watchForActive(gate, () => opened, open);
  }

  /** Behind a closed gate: a probe write to any node whose sys/health says active (one in flight per node). */
  private async watchForActive(gate: Promise<void>, isOpen: () => boolean, open: () => void): Promise<void> {
    const checking = new Set<number>();
    const probing = new Set<number>();
    const pending: Promise<void>[] = [];
    while (!isOpen() && !this.stopped) {
      for (let idx = 0; idx < this.nodes.length; idx++) {
        if (checking.has(idx) || probing.has(idx)) continue;
        checking.add(idx);
        pending.push(
          this.nodes[idx]!.api.health().then(
            (h) => {
              checking.delete(idx);
              if (isOpen() || !h.initialized || h.sealed || h.standby) return;
              probing.add(idx);
              return this.attempt(
                idx,
                `${this.prefix}/probe`,
                { probe: true },
                now() + this.cfg.attemptTimeoutMs,
              ).then(
                () => {
                  if (!isOpen()) this.preferred = idx;
                  open();
                },
                () => {
                  probing.delete(idx);
                },
              );
            },
            () => {
              checking.delete(idx);
            },
          ),
        );
      }
      await Promise.race([gate, sleep(50)]);
    }
    await Promise.all(pending);
  }

  /** Stops issuing writes and waits for those in flight (each ends by its deadline, or at once behind a closed gate). */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
    await Promise.all([...this.inflight]);
    await this.probing;
    await this.watching;
  }
}

/** Reads a canary key through every node at a fixed rate. */
export class Readers {
  readonly reads: ReadRecord[] = [];
  private stopped = false;
  private loops: Promise<void>[] = [];

  constructor(
    private readonly nodes: readonly DrillNode[],
    private readonly mount: string,
    private readonly key: string,
    private readonly cfg: DrillConfig,
  ) {}

  start(): void {
    if (this.cfg.readRate <= 0) return;
    const interval = 1000 / this.cfg.readRate;
    this.loops = this.nodes.map(async (n) => {
      while (!this.stopped) {
        const at = now();
        try {
          await n.api.call(
            'GET',
            `/${this.mount}/data/${this.key}`,
            'reading the drill canary',
            undefined,
            this.cfg.attemptTimeoutMs,
          );
          this.reads.push({ node: n.name, at, ok: true });
        } catch (err) {
          this.reads.push({ node: n.name, at, ok: false, error: requestError(n.name, err, at) });
        }
        const wait = interval - (now() - at);
        if (wait > 0) await sleep(wait);
      }
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.loops);
  }
}
