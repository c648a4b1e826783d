/** The runtime contract (test/helpers/runtime-contract.ts) against the in-memory fake. */
import { FakeRuntime } from '../helpers/fake-runtime.js';
import { runtimeContract } from '../helpers/runtime-contract.js';

const image = 'vctl-rc/fake-server:1';
const runtime = new FakeRuntime([image]);
runtimeContract('the in-memory fake', () => ({
  runtime,
  image,
  entrypoint: [],
  cmd: [],
  prefix: 'vctl-rc-contract',
}));
