/**
 * Renders use-case events on stderr: a spinner on a TTY, plain lines otherwise (CI logs), nothing
 * but warnings with --quiet. stdout is kept for results.
 */
import chalk from 'chalk';
import type { Ora } from 'ora';
import type { Progress } from '../cluster/events.js';

export interface ProgressOptions {
  readonly stream: NodeJS.WriteStream;
  readonly quiet?: boolean;
  readonly verbose?: boolean;
}

export function debugEnabled(env: NodeJS.ProcessEnv): boolean {
  const d = env.DEBUG ?? '';
  return d.split(',').some((p) => p.trim() === '*' || p.trim() === 'vaultctl:*' || p.trim() === 'vaultctl');
}

type OraFactory = typeof import('ora').default;

export class StderrProgress implements Progress {
  private spinner: Ora | undefined;
  private readonly tty: boolean;
  /**
   * ora is loaded only for a terminal, and without blocking: CI logs and pipes never need it, and
   * it is a sizeable part of a command's start. A step before it has loaded waits in `pending`.
   */
  private ora: OraFactory | undefined;
  private pending: string | undefined;

  constructor(private readonly opts: ProgressOptions) {
    this.tty = Boolean(opts.stream.isTTY) && !process.env.CI;
    if (this.tty && !opts.quiet) {
      import('ora').then(
        (m) => {
          this.ora = m.default;
          if (this.pending !== undefined) this.step(this.pending);
        },
        () => {},
      );
    }
  }

  private line(text: string): void {
    this.spinner?.stop();
    this.spinner = undefined;
    this.pending = undefined;
    this.opts.stream.write(`${text}\n`);
  }

  step(text: string): void {
    if (this.opts.quiet) return;
    if (this.tty) {
      this.pending = undefined;
      if (this.spinner) this.spinner.text = text;
      else if (this.ora) this.spinner = this.ora({ text, stream: this.opts.stream }).start();
      else this.pending = text;
    } else {
      this.line(chalk.dim(`… ${text}`));
    }
  }

  done(text: string): void {
    if (this.opts.quiet) return;
    if (this.tty && this.spinner) {
      this.spinner.succeed(text);
      this.spinner = undefined;
    } else {
      this.line(`${chalk.green('✓')} ${text}`);
    }
  }

  info(text: string): void {
    if (this.opts.quiet) return;
    this.line(`${chalk.cyan('i')} ${text}`);
  }

  warn(text: string): void {
    this.line(`${chalk.yellow('warning:')} ${text}`);
  }

  debug(text: string, node?: string): void {
    if (!this.opts.verbose) return;
    this.line(chalk.gray(`debug${node ? ` [${node}]` : ''} ${text}`));
  }

  /** Stops a running spinner (before printing results or errors). */
  stop(): void {
    this.spinner?.stop();
    this.spinner = undefined;
    this.pending = undefined;
  }
}
