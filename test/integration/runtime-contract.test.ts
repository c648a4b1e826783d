/**
 * The runtime contract (test/helpers/runtime-contract.ts) against the real Docker Engine: the same
 * cases the fake passes in the unit suite. Only resources named vctl-rc-contract-* are touched.
 */
import { DockerRuntime } from '../../src/runtime/docker.js';
import { IMAGE } from '../helpers/paths.js';
import { runtimeContract } from '../helpers/runtime-contract.js';

const runtime = new DockerRuntime();
runtimeContract('the Docker adapter', () => ({
  runtime,
  image: IMAGE,
  // A dev server keeps running without a config file.
  entrypoint: ['/bin/bao'],
  cmd: ['server', '-dev', '-dev-listen-address=127.0.0.1:8200'],
  prefix: 'vctl-rc-contract',
}));
