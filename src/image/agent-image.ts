/**
 * The agent container's image, built locally like the endpoint's and Prometheus' (nothing
 * pulled): this host's `node` binary and the libraries `ldd` names, the built project (dist/,
 * bin/, package.json) and only the production dependencies (`npm ls --omit=dev`), on an otherwise
 * empty root. It runs `node /opt/vaultctl/bin/vaultctl agent ...`.
 */
import { execFile } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { promisify } from 'node:util';
import type { Progress } from '../cluster/events.js';
import { UsageError } from '../errors.js';
import type { ContainerRuntime, ProgressEvent } from '../runtime/port.js';
import { projectRoot } from './agent-tag.js';
import { parseLdd } from './host-binary.js';

const run = promisify(execFile);

/** Where the project lives inside the image. */
export const AGENT_APP_DIR = '/opt/vaultctl';
export const AGENT_NODE = '/usr/local/bin/node';

/** The production dependency directories, relative to the project root. */
async function productionModules(root: string): Promise<string[]> {
  const doing = 'listing the agent image dependencies';
  let out: string;
  try {
    out = (
      await run('npm', ['ls', '--omit=dev', '--parseable', '--all'], {
        cwd: root,
        timeout: 60_000,
        maxBuffer: 16 << 20,
      })
    ).stdout;
  } catch (err) {
    throw new UsageError(
      doing,
      `npm ls failed: ${(err as Error).message.split('\n')[0]}`,
      'run `npm ci` in the project',
    );
  }
  return out
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith(join(root, 'node_modules')))
    .map((l) => relative(root, l));
}

export async function buildAgentImage(
  tag: string,
  deps: { runtime: ContainerRuntime; progress: Progress },
  root = projectRoot(),
): Promise<{ tag: string; id: string }> {
  const doing = 'building the agent image';
  if (!existsSync(join(root, 'dist', 'cli.js')))
    throw new UsageError(doing, `${root}dist/cli.js is missing`, 'run `npm run build` first');
  const node = process.execPath;
  let libraries: string[];
  try {
    libraries = parseLdd((await run('ldd', [node], { timeout: 20_000 })).stdout);
  } catch (err) {
    throw new UsageError(doing, `ldd ${node} failed: ${(err as Error).message}`, 'ldd comes with libc-bin');
  }
  const modules = await productionModules(root);
  const dir = mkdtempSync(join(tmpdir(), 'vaultctl-agent-image-'));
  try {
    const fs = join(dir, 'rootfs');
    const app = join(fs, AGENT_APP_DIR);
    mkdirSync(join(fs, dirname(AGENT_NODE)), { recursive: true });
    copyFileSync(node, join(fs, AGENT_NODE));
    chmodSync(join(fs, AGENT_NODE), 0o755);
    for (const lib of libraries) {
      mkdirSync(join(fs, dirname(lib)), { recursive: true });
      copyFileSync(lib, join(fs, lib));
      chmodSync(join(fs, lib), 0o755);
    }
    for (const d of ['dist', 'bin'])
      cpSync(join(root, d), join(app, d), { recursive: true, dereference: true });
    copyFileSync(join(root, 'package.json'), join(app, 'package.json'));
    for (const m of modules)
      cpSync(join(root, m), join(app, m), {
        recursive: true,
        dereference: true,
        // Nested node_modules are listed on their own (and may hold what production does not need).
        filter: (src) => !relative(join(root, m), src).startsWith('node_modules'),
      });
    mkdirSync(join(fs, 'tmp'), { recursive: true });
    chmodSync(join(fs, 'tmp'), 0o1777);
    writeFileSync(
      join(dir, 'Dockerfile'),
      [
        `# Built by \`vaultctl up --agent\` from ${node} (${process.version}) and ${root}.`,
        'FROM scratch',
        'COPY rootfs/ /',
        `ENV PATH=${dirname(AGENT_NODE)} NODE_ENV=production`,
        `WORKDIR ${AGENT_APP_DIR}`,
        `ENTRYPOINT ["${AGENT_NODE}", "${AGENT_APP_DIR}/bin/vaultctl"]`,
        'CMD ["agent"]',
        '',
      ].join('\n'),
    );
    deps.progress.step(`building ${tag} from ${node} and ${root}`);
    const id = await deps.runtime.buildImage(
      {
        contextDir: dir,
        files: ['Dockerfile', 'rootfs'],
        tag,
        labels: { 'io.vaultctl.component': 'agent', 'io.vaultctl.version': process.version },
      },
      (e: ProgressEvent) => deps.progress.debug(e.status),
    );
    deps.progress.done(`built ${tag}`);
    return { tag, id };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
