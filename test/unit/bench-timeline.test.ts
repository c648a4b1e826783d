import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runLoad } from '../../src/bench/load.js';
import { NodeSampler, nodeSecond, readingFrom } from '../../src/bench/node-sampler.js';
import { lineUp } from '../../src/bench/report.js';
import { secondsOver, Timeline } from '../../src/bench/timeline.js';
import { renderTimeline } from '../../src/commands/bench-timeline.js';
import { parsePrometheusText } from '../../src/health/node-metrics.js';

const fixture = (name: string) =>
  readFileSync(join(import.meta.dirname, '../fixtures/metrics', name), 'utf8');
/** Two readings of a real OpenBao 2.7.2 leader's metrics listener, one second apart, under the seed profile. */
const LEADER_A = fixture('openbao-2.7.2-leader-a.prom');
const LEADER_B = fixture('openbao-2.7.2-leader-b.prom');
const reading = (text: string) => readingFrom(parsePrometheusText(text));

describe('Timeline: operations bucketed by the second they started in', () => {
  it('charges each operation to its start second, drops what falls outside the run, counts cache hits and errors', () => {
    const tl = new Timeline(3);
    tl.begin(10_000, false);
    tl.record('read', 10_000, 2_000); // second 0
    tl.record('read', 10_999.9, 4_000); // still second 0
    tl.record('write', 11_000, 300_000); // second 1: a 300 ms write started in it
    tl.record('cached', 11_500, 20);
    tl.error(12_100);
    tl.record('read', 9_999, 1_000); // warm-up: not measured
    tl.record('read', 13_000, 1_000); // after the run
    const s = tl.toSeconds(false);
    expect(s.map((x) => x.t)).toEqual([0, 1, 2]);
    expect(s[0]).toMatchObject({ ops: 2, errors: 0, cached: 0, read: { n: 2, max: 4 }, write: { n: 0 } });
    expect(s[0]!.read.p50).toBeCloseTo(2, 1);
    expect(s[1]).toMatchObject({ ops: 2, cached: 1, read: { n: 0 }, write: { n: 1, p99: 300, max: 300 } });
    expect(s[2]).toMatchObject({ ops: 1, errors: 1 });
    expect(s[0]).not.toHaveProperty('list');
    expect(tl.toSeconds(true)[0]!.list).toEqual({ n: 0, p50: 0, p99: 0, max: 0 });
  });

  it('event-loop delay: a sample is charged to the second it started in; two in one second keep the larger delay and add their CPU', () => {
    const tl = new Timeline(2);
    tl.begin(0, false);
    tl.recordLoop(0, { p99: 1.5, max: 3, cpu: 12 });
    tl.recordLoop(500, { p99: 0.5, max: 80.1234, cpu: 3.5 });
    tl.recordLoop(-1000, { p99: 9, max: 9 }); // warm-up
    const s = tl.toSeconds(false);
    expect(s[0]!.loop).toEqual({ p99: 1.5, max: 80.123, cpu: 15.5 });
    expect(s[1]).not.toHaveProperty('loop');
    expect(secondsOver(s, 50)).toEqual({ read: 0, write: 0, loop: 1, slowWithLoopStall: 0 });
  });

  it('secondsOver counts only seconds with samples of that kind', () => {
    const tl = new Timeline(3);
    tl.begin(0, false);
    tl.record('read', 100, 60_000);
    tl.record('write', 1100, 51_000);
    tl.record('write', 2100, 49_000);
    tl.recordLoop(1000, { p99: 5, max: 25 });
    tl.recordLoop(2000, { p99: 5, max: 25 });
    // Second 1 is slow and its loop stalled; second 2 stalled but was not slow.
    expect(secondsOver(tl.toSeconds(false), 50)).toEqual({
      read: 1,
      write: 1,
      loop: 0,
      slowWithLoopStall: 1,
    });
  });

  it('runLoad fills the timeline of the measured seconds and samples its own event loop', async () => {
    const tl = new Timeline(1);
    const answer = <T>(v: T) => new Promise<T>((r) => setTimeout(() => r(v), 2));
    const res = await runLoad(
      {
        readSecretWithMeta: (() =>
          answer({ data: {}, version: 1, stale: false, fromCache: false, tier: 'vault' })) as never,
        writeSecret: () => answer({ version: 1 }),
        listSecrets: () => answer([]),
      },
      {
        users: 5,
        thinkMinMs: 5,
        thinkMaxMs: 10,
        readRatio: 0.5,
        durationMs: 1200,
        warmupMs: 0,
        paths: ['a/b/c/d'],
        timeline: tl,
      },
    );
    const [s0] = tl.toSeconds(false);
    expect(s0!.read.n + s0!.write.n).toBeGreaterThan(0);
    expect(s0!.loop?.max).toBeGreaterThanOrEqual(0);
    expect(res.ops?.read.statusCodes['200']).toBe(res.readVault.count);
    expect(res.ops?.write.successes).toBe(res.write.count);
  });
});

describe('node metrics: parsing a real OpenBao 2.7.2 metrics text', () => {
  it('reads gauges (split by BoltDB database), counters and summaries by their 2.7.2 names', () => {
    const r = reading(LEADER_A);
    expect(r.values).toMatchObject({
      fsmPending: 0,
      'freePages.fsm': 249,
      'freePages.logstore': 125,
      'spills.fsm': 57335,
      raftApply: 6604,
      gcRuns: 299,
    });
    expect(r.summaries.commitTime).toMatchObject({ count: 6610, sum: 63554.60257041454 });
    expect(r.summaries.storeLogs).toMatchObject({ count: 5995 });
    expect(r.summaries.gcPause).toMatchObject({ count: 299, sum: 0.454845329 });
    expect(r.summaries['spillTime.fsm']).toBeDefined();
    expect(r.summaries.commitTime!.p99).toBeGreaterThan(0);
    expect(r.events).toEqual({});
  });

  it('one second: counter increases, gauges as they are, summaries as observations and their mean in ms', () => {
    const s = nodeSecond(7, reading(LEADER_A), reading(LEADER_B), 4.25);
    expect(s.t).toBe(7);
    expect(s.scrapeMs).toBe(4.25);
    expect(s.values).toMatchObject({
      raftApply: 18,
      gcRuns: 1,
      'spills.fsm': 140,
      'spills.logstore': 77,
      'freePages.fsm': 245,
      fsmPending: 0,
    });
    expect(s.values.gcPauseMs).toBeCloseTo(0.079, 3);
    expect(s.timings.commitTime).toMatchObject({ n: 17, mean: 19.05 });
    expect(s.timings.storeLogs).toMatchObject({ n: 17, mean: 3.289 });
    // go_gc_duration_seconds is in seconds: the mean pause is shown in ms.
    expect(s.timings.gcPause!.n).toBe(1);
    expect(s.timings.gcPause!.mean).toBeCloseTo(0.079, 3);
    expect(s).not.toHaveProperty('events');
  });

  it('a raft snapshot or log compaction that finished in the second is an event; a restarted node counts afresh', () => {
    const before = reading('vault_raft_apply 500\n');
    const after = reading(
      [
        'vault_raft_apply 20',
        'vault_raft_snapshot_create{quantile="0.99"} 41',
        'vault_raft_snapshot_create_sum 41',
        'vault_raft_snapshot_create_count 1',
        'vault_raft_compactLogs_sum 12.5',
        'vault_raft_compactLogs_count 1',
      ].join('\n'),
    );
    const s = nodeSecond(0, before, after);
    expect(s.events).toEqual({
      snapshot_create: { n: 1, mean: 41, p99: 41 },
      compactLogs: { n: 1, mean: 12.5 },
    });
    expect(s.values.raftApply).toBe(20);
  });

  it('NodeSampler: a baseline before second 0, then one difference per second; a failed reading is an error', async () => {
    const texts = [LEADER_A, LEADER_B, 'boom', LEADER_B];
    let i = 0;
    const sampler = new NodeSampler([{ name: 'vault-1', address: 'https://127.0.0.1:1' }], {
      intervalMs: 20,
      fetch: async () => {
        const t = texts[Math.min(i++, texts.length - 1)]!;
        if (t === 'boom') throw new Error('no answer within 2000 ms');
        return t;
      },
    });
    sampler.start(performance.now() + 20, 3);
    const out = await sampler.stop();
    const secs = out['vault-1']!;
    expect(secs.map((s) => s.t)).toEqual([0, 1, 2]);
    expect(secs[0]!.values.raftApply).toBe(18);
    expect(secs[1]).toMatchObject({ t: 1, error: 'no answer within 2000 ms' });
    expect(secs[2]!.values.raftApply).toBe(0);
  });
});

describe('the timeline lined up with the nodes, and as text', () => {
  const tl = new Timeline(2);
  tl.begin(0, false);
  tl.record('read', 10, 3_000);
  tl.record('write', 1_010, 75_000);
  const node = nodeSecond(1, reading(LEADER_A), reading(LEADER_B), 3);
  const entries = lineUp(tl.toSeconds(false), { 'vault-1': [node] });

  it('each second carries every node sampled in it, without its own t', () => {
    expect(entries[0]!.nodes).toEqual({});
    expect(entries[1]!.nodes!['vault-1']).toMatchObject({ scrapeMs: 3, values: { raftApply: 18 } });
    expect(entries[1]!.nodes!['vault-1']).not.toHaveProperty('t');
    expect(lineUp(tl.toSeconds(false), undefined)[0]).not.toHaveProperty('nodes');
  });

  it('one row per second, a star on a second with a p99 over 50 ms, node columns when sampled', () => {
    const text = renderTimeline(entries);
    const rows = text.split('\n');
    expect(rows[0]).toMatch(
      /^S\s+OPS\s+ERR\s+R P50\s+R P99\s+R MAX\s+W P50\s+W P99\s+W MAX\s+LOOP MAX\s+CPU\s+COMMIT/,
    );
    expect(rows[1]).toMatch(/^0\s+1\s+0\s+3\.0\s+3\.0\s+3\.0\s+-\s+-\s+-/);
    expect(rows[2]).toMatch(/^\*1\s+1\s+0\s+-\s+-\s+-\s+75\.0\s+75\.0\s+75\.0\s+-\s+-\s+19\.1\s+3\.3\s+0\.0/);
    expect(renderTimeline(tl.toSeconds(false)).split('\n')[0]).not.toMatch(/COMMIT/);
  });
});
