/**
 * Renders use-case events on stderr: a spinner on a TTY, plain lines otherwise (CI logs), nothing
 * but warnings with --quiet. stdout is kept for results.
 */
import chalk from 'chalk';
import ora, { type Ora } from 'ora';
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

export class StderrProgress implements Progress {
  private spinner: Ora | undefined;
  private readonly tty: boolean;

  constructor(private readonly opts: ProgressOptions) {
    this.tty = Boolean(opts.stream.isTTY) && !process.env.CI;
  }

  private line(text: string): void {
    this.spinner?.stop();
    this.spinner = undefined;
    this.opts.stream.write(`${text}\n`);
  }

  step(text: string): void {
    if (this.opts.quiet) return;
    if (this.tty) {
      if (this.spinner) this.spinner.text = text;
      else this.spinner = ora({ text, stream: this.opts.stream }).start();
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
  }
}
