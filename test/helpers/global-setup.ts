/**
 * Before the integration suite: the Docker Engine must answer and the local server image must
 * exist (built here from the real OpenBao binary by vaultctl's own `image build` code path).
 * Nothing is skipped: without Docker the suite fails, loudly.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import {
  buildHaproxyImage,
  buildPrometheusImage,
  DEBIAN_HAPROXY,
  DEBIAN_PROMETHEUS,
} from '../../src/image/host-binary.js';
import { buildServerImage } from '../../src/image/image.js';
import { DockerRuntime } from '../../src/runtime/docker.js';
import { HAPROXY_IMAGE, IMAGE, PROMETHEUS_IMAGE, REPO_ROOT } from './paths.js';
import { silentProgress } from './progress.js';

export default async function setup(): Promise<void> {
  const runtime = new DockerRuntime();
  try {
    await runtime.ping();
  } catch (err) {
    throw new Error(
      `The integration suite needs a Docker Engine and none answers (${(err as Error).message}). Run \`bash scripts/setup.sh\` (or \`make test\`, which does).`,
    );
  }
  if (!(await runtime.imageExists(IMAGE))) {
    const bao = execFileSync('bash', ['scripts/setup.sh', '--print-bao'], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
    }).trim();
    await buildServerImage(bao, IMAGE, { runtime, progress: silentProgress });
  }
  if (!(await runtime.imageExists(PROMETHEUS_IMAGE))) {
    if (!existsSync(DEBIAN_PROMETHEUS))
      throw new Error("The monitoring tests need Debian's prometheus: run `bash scripts/setup.sh`.");
    await buildPrometheusImage(DEBIAN_PROMETHEUS, PROMETHEUS_IMAGE, { runtime, progress: silentProgress });
  }
  if (!(await runtime.imageExists(HAPROXY_IMAGE))) {
    if (!existsSync(DEBIAN_HAPROXY))
      throw new Error(
        "Every test cluster has an endpoint, which needs Debian's haproxy: run `bash scripts/setup.sh`.",
      );
    await buildHaproxyImage(DEBIAN_HAPROXY, HAPROXY_IMAGE, { runtime, progress: silentProgress });
  }
  if (!existsSync(`${REPO_ROOT}/dist/cli.js`)) {
    execFileSync('npm', ['run', '-s', 'build'], { cwd: REPO_ROOT, stdio: 'inherit' });
  }
}
