/**
 * The agent image's default tag: vaultctl's version, the node it runs on, and a hash of the built
 * project (dist/ and bin/ names, sizes, mtimes), so a rebuilt project or another node gets its own
 * image and `up` never runs an agent older than the CLI that started it.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project's root: dist/image/agent-tag.js (or src/image/agent-tag.ts) two levels down. */
export function projectRoot(): string {
  return fileURLToPath(new URL('../..', import.meta.url));
}

function walk(dir: string, hash: ReturnType<typeof createHash>): void {
  if (!existsSync(dir)) return;
  for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p, hash);
    else {
      const st = statSync(p);
      hash.update(`${p}\0${st.size}\0${st.mtimeMs}\n`);
    }
  }
}

export function defaultAgentImage(root = projectRoot()): string {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version?: string };
  const hash = createHash('sha256').update(process.version);
  walk(join(root, 'dist'), hash);
  walk(join(root, 'bin'), hash);
  return `vaultctl/agent:${pkg.version ?? '0'}-${hash.digest('hex').slice(0, 12)}`;
}
