/**
 * The error hierarchy of vaultctl. Every failure a user can meet is one of these; src/cli.ts
 * (`main`) maps them to exit codes in one place, and `bin/vaultctl` only sets the code it returns.
 * Messages have the shape "Error <doing>: <cause>" and may carry a hint line.
 */

export const ExitCode = {
  ok: 0,
  /** Usage, configuration or local problem (bad flag, malformed spec, state dir, refused action). */
  usage: 1,
  /** A remote part failed: Docker Engine or a Vault/OpenBao node. */
  remote: 2,
  /**
   * A judged run failed its checks: `failover-drill` lost a write, did not heal, or exceeded
   * --max-rto; `bench --check` missed a target.
   */
  check: 3,
  /** Internal error: a bug in vaultctl. Printed with a stack. */
  internal: 70,
  /** Cancelled by the user (Ctrl-C). */
  cancelled: 130,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export abstract class VaultctlError extends Error {
  abstract readonly exitCode: ExitCodeValue;
  /** What vaultctl was doing, e.g. "starting vault-1". */
  readonly doing: string;
  readonly hint: string | undefined;

  constructor(doing: string, cause: string, hint?: string, options?: { cause?: unknown }) {
    super(cause, options);
    this.doing = doing;
    this.hint = hint;
    this.name = new.target.name;
  }

  /** The text a user sees: "Error <doing>: <cause>" and an optional "hint:" line. */
  render(): string {
    const head = `Error ${this.doing}: ${this.message}`;
    return this.hint ? `${head}\nhint: ${this.hint}` : head;
  }
}

/** Bad flags, bad spec, refused action, unsafe local state. Exit 1. */
export class UsageError extends VaultctlError {
  readonly exitCode = ExitCode.usage;
}

/** A spec that failed validation: every problem, each with its dotted path. Exit 1. */
export class ConfigError extends VaultctlError {
  readonly exitCode = ExitCode.usage;
  readonly problems: readonly { path: string; message: string }[];

  constructor(doing: string, problems: readonly { path: string; message: string }[], hint?: string) {
    const n = problems.length;
    super(doing, `${n} problem${n === 1 ? '' : 's'} in the cluster spec`, hint);
    this.problems = problems;
  }

  override render(): string {
    const lines = [`Error ${this.doing}: ${this.message}`];
    for (const p of this.problems) lines.push(`  - ${p.path || '(spec)'}: ${p.message}`);
    if (this.hint) lines.push(`hint: ${this.hint}`);
    return lines.join('\n');
  }
}

/** Docker Engine or a Vault node answered with an error or did not answer. Exit 2. */
export class RemoteError extends VaultctlError {
  readonly exitCode = ExitCode.remote;
}

/**
 * A run could not remove everything it created: `leftover` names what is left, so the user can
 * remove it. Exit 2, also after Ctrl-C: a cancelled run that left data behind did not cancel
 * cleanly, and saying "removed" would be false.
 */
export class LeftoverError extends RemoteError {
  readonly leftover: readonly string[];
  /** The command printed its report first: stdout gets no second (JSON) document. */
  readonly afterReport: boolean;

  constructor(
    doing: string,
    cause: string,
    leftover: readonly string[],
    hint: string,
    options: { afterReport?: boolean; cause?: unknown } = {},
  ) {
    super(doing, cause, hint, { cause: options.cause });
    this.leftover = leftover;
    this.afterReport = options.afterReport ?? false;
  }

  override render(): string {
    const lines = [`Error ${this.doing}: ${this.message}`, ...this.leftover.map((p) => `  - ${p}`)];
    if (this.hint) lines.push(`hint: ${this.hint}`);
    return lines.join('\n');
  }
}

/**
 * A judged run finished and failed its checks (`failover-drill`, `bench --check`). Exit 3. The
 * command has already printed its report, which names every failed check, so the CLI adds nothing:
 * a second document on stdout would break `--format json`.
 */
export class CheckFailedError extends VaultctlError {
  readonly exitCode = ExitCode.check;
  /** The checks that failed, as the report names them. */
  readonly failed: readonly string[];

  constructor(doing: string, failed: readonly string[]) {
    const n = failed.length;
    super(doing, `${n} check${n === 1 ? '' : 's'} failed: ${failed.join('; ')}`);
    this.failed = failed;
  }
}

/** The user pressed Ctrl-C (or the operation was aborted). Exit 130. */
export class CancelledError extends VaultctlError {
  readonly exitCode = ExitCode.cancelled;
  constructor(doing: string) {
    super(doing, 'cancelled', undefined);
  }
}

export function isAbortError(err: unknown): boolean {
  return err instanceof Error && (err.name === 'AbortError' || err instanceof CancelledError);
}

/** Throws CancelledError when the signal has fired. */
export function throwIfAborted(signal: AbortSignal | undefined, doing: string): void {
  if (signal?.aborted) throw new CancelledError(doing);
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
