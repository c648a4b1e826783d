/**
 * `vaultctl bench --timeline` as text: one row per second of the run, the load's latencies beside
 * the bench's own event-loop delay and the nodes' raft and GC figures of the same second, so the
 * second a stall happened shows where it was.
 */
import type { TimelineEntry } from '../bench/report.js';
import { table } from '../output/format.js';

const f = (v: number | undefined) => (v === undefined ? '-' : v.toFixed(1));

/** The largest value of `pick` over the nodes in this second. */
function maxOver(
  e: TimelineEntry,
  pick: (n: NonNullable<TimelineEntry['nodes']>[string]) => number | undefined,
): number | undefined {
  let m: number | undefined;
  for (const n of Object.values(e.nodes ?? {})) {
    const v = pick(n);
    if (v !== undefined && (m === undefined || v > m)) m = v;
  }
  return m;
}

/** What else happened in the second: snapshots, compactions, elections, failed readings. */
function notes(e: TimelineEntry): string {
  const out: string[] = [];
  for (const [name, n] of Object.entries(e.nodes ?? {})) {
    for (const [ev, d] of Object.entries(n.events ?? {})) out.push(`${name} ${ev} ${d.mean.toFixed(0)}ms`);
    if ((n.values.elections ?? 0) > 0) out.push(`${name} election`);
    if (n.error) out.push(`${name} unread`);
  }
  return out.join('; ');
}

/** The rows, with `*` on a second whose read or write p99 is over `slowMs`. */
export function renderTimeline(timeline: readonly TimelineEntry[], slowMs = 50): string {
  const withNodes = timeline.some((e) => e.nodes && Object.keys(e.nodes).length > 0);
  const head = [
    'S',
    'OPS',
    'ERR',
    'R P50',
    'R P99',
    'R MAX',
    'W P50',
    'W P99',
    'W MAX',
    'LOOP MAX',
    'CPU',
    ...(withNodes ? ['COMMIT', 'STORE', 'FSM PEND', 'GC', 'REQ', 'SCRAPE', 'NOTES'] : []),
  ];
  const rows = timeline.map((e) => {
    const slow = (e.read.n > 0 && e.read.p99 > slowMs) || (e.write.n > 0 && e.write.p99 > slowMs);
    const lat = (l: TimelineEntry['read']) => (l.n > 0 ? [f(l.p50), f(l.p99), f(l.max)] : ['-', '-', '-']);
    return [
      `${slow ? '*' : ''}${e.t}`,
      String(e.ops),
      String(e.errors),
      ...lat(e.read),
      ...lat(e.write),
      f(e.loop?.max),
      e.loop?.cpu === undefined ? '-' : e.loop.cpu.toFixed(0),
      ...(withNodes
        ? [
            f(maxOver(e, (n) => n.timings.commitTime?.mean)),
            f(maxOver(e, (n) => n.timings.storeLogs?.mean)),
            f(maxOver(e, (n) => n.values.fsmPending)),
            f(maxOver(e, (n) => n.values.gcPauseMs)),
            f(maxOver(e, (n) => n.timings.handleRequest?.mean)),
            f(maxOver(e, (n) => n.scrapeMs)),
            notes(e),
          ]
        : []),
    ];
  });
  const legend = [
    `Per second: latency in ms of reads that reached a node (R) and writes (W), by the second each started; LOOP MAX is the bench process's own event-loop delay, CPU the CPU ms it used (a long delay with little CPU: the host did not schedule it).`,
    ...(withNodes
      ? [
          'Nodes, the largest over the nodes in that second: COMMIT raft commit time and STORE log-store write (mean ms), FSM PEND entries waiting to apply, GC pause ms, REQ mean request time inside the node, SCRAPE the metrics request; NOTES snapshots, compactions, elections.',
        ]
      : []),
    `* a second with a p99 over ${slowMs} ms.`,
  ];
  return [table(head, rows), '', ...legend].join('\n');
}
