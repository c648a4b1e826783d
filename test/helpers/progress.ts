/** Progress doubles for tests of use cases. */
import type { Progress } from '../../src/cluster/events.js';

/** Says nothing. */
export const silentProgress: Progress = {
  step() {},
  done() {},
  info() {},
  warn() {},
  debug() {},
};

/** Records every event as a line, e.g. "step seeding 120 credentials". */
export class RecordingProgress implements Progress {
  readonly lines: string[] = [];
  step(t: string) {
    this.lines.push(`step ${t}`);
  }
  done(t: string) {
    this.lines.push(`done ${t}`);
  }
  info(t: string) {
    this.lines.push(`info ${t}`);
  }
  warn(t: string) {
    this.lines.push(`warn ${t}`);
  }
  debug(t: string, node?: string) {
    this.lines.push(`debug ${node ? `[${node}] ` : ''}${t}`);
  }
}
