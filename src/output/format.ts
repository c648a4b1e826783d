/** Table and JSON rendering of results. */
import chalk from 'chalk';

/** `vault-benchmark`: only `bench` has it (hashicorp/vault-benchmark's report shape). */
export type OutputFormat = 'table' | 'json' | 'vault-benchmark';

/** Left-aligned columns separated by two spaces; widths ignore colour codes. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: strips ANSI colour codes for width
  const visible = (s: string) => s.replace(/\u001b\[[0-9;]*m/g, '').length;
  const widths = headers.map((h, i) => Math.max(visible(h), ...rows.map((r) => visible(r[i] ?? ''))));
  const fmt = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c + ' '.repeat(widths[i]! - visible(c))))
      .join('  ')
      .trimEnd();
  return [fmt(headers.map((h) => chalk.bold(h))), ...rows.map(fmt)].join('\n');
}

export function json(value: unknown): string {
  return JSON.stringify(value, null, 2);
}

export function verdictColour(verdict: string): string {
  if (verdict === 'healthy') return chalk.green(verdict);
  if (verdict === 'degraded') return chalk.yellow(verdict);
  return chalk.red(verdict);
}
