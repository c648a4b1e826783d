import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PINNED } from '../../src/spec/schema.js';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const CLI = resolve(REPO_ROOT, 'bin/vaultctl');
/** The image every integration test runs: built locally from the pinned OpenBao binary. */
export const IMAGE = `vaultctl/openbao:${PINNED.openbao}`;
/** The Prometheus image of the monitoring tests: built locally from Debian's prometheus binary. */
export const PROMETHEUS_IMAGE = `vaultctl/prometheus:${PINNED.prometheus}`;
/** The endpoint image: built locally from Debian's haproxy binary. */
export const HAPROXY_IMAGE = `vaultctl/haproxy:${PINNED.haproxy}`;
