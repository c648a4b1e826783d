/**
 * One renderer per output format: a command hands over its result once, as data (what JSON shows)
 * and as text lines (what a person reads); the format the user chose picks which one is printed.
 */
import { json, type OutputFormat } from './format.js';

/** The text view of a result: one string (may hold newlines) or lines. */
export type TextView = () => string | readonly string[];

/** Prints a command's result in the chosen format. */
export type Render = (data: unknown, text: TextView, alt?: { readonly vaultBenchmark?: unknown }) => void;

const RENDERERS: Readonly<Record<OutputFormat, (out: (line: string) => void) => Render>> = {
  table: (out) => (_data, text) => {
    const t = text();
    for (const line of typeof t === 'string' ? [t] : t) out(line);
  },
  json: (out) => (data) => out(json(data)),
  // Only bench has this shape (cli.ts refuses it elsewhere); compact, as vault-benchmark writes it.
  'vault-benchmark': (out) => (data, _text, alt) => out(JSON.stringify(alt?.vaultBenchmark ?? data)),
};

/** The renderer of `format`, writing results to `out` (stdout). */
export function renderer(format: OutputFormat, out: (line: string) => void): Render {
  return RENDERERS[format](out);
}
