/**
 * How use cases tell the outside what they do. Domain code calls these; the output layer decides
 * how they look (a spinner on a TTY, plain lines on stderr otherwise, nothing with --quiet).
 */
export interface Progress {
  /** A step begins. */
  step(text: string): void;
  /** The current step finished. */
  done(text: string): void;
  /** Something worth knowing that is not a failure. */
  info(text: string): void;
  warn(text: string): void;
  /** Debug detail, shown with --verbose or DEBUG=vaultctl:*; prefixed by node when it is about one. */
  debug(text: string, node?: string): void;
}

export const silentProgress: Progress = {
  step() {},
  done() {},
  info() {},
  warn() {},
  debug() {},
};

/** Collects events; used by tests of use cases. */
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
