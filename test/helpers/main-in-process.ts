/** Runs the CLI's `main` in this process, as bin/vaultctl does, capturing what it prints. */
import { vi } from 'vitest';
import { main } from '../../src/cli.js';

export interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** `vaultctl ...args` with `env` (NO_COLOR always); stdout and stderr captured, not printed. */
export async function runMain(args: readonly string[], env: Record<string, string> = {}): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((s) => {
    stdout += String(s);
    return true;
  });
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((s) => {
    stderr += String(s);
    return true;
  });
  try {
    const code = await main(['node', 'vaultctl', ...args], { NO_COLOR: '1', ...env });
    return { code, stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}
