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
