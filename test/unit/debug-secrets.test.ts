/**
 * DEBUG=* must not print the token: the HTTP stack under node-vault logs request options (headers
 * with X-Vault-Token) through the `debug` package. A local HTTP server answers with a redirect, the
 * path on which follow-redirects logs the options.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { formatWithOptions } from 'node:util';
import createDebug from 'debug';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { VaultNodeApi } from '../../src/vault/api.js';
import { silenceSecretLeakingDebug } from '../../src/vault/quiet-debug.js';

const TOKEN = 'hvs.unit-test-token-must-not-print';
let server: http.Server;
let address: string;
const originalLog = createDebug.log;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    if (req.url?.startsWith('/v1/sys/leader')) {
      res.writeHead(307, { location: `${address}/v1/sys/health` });
      res.end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"initialized":true,"sealed":false,"standby":false}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  address = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => server.close());
afterEach(() => {
  createDebug.log = originalLog;
  createDebug.disable();
});

async function debugOutputOfARequest(): Promise<string> {
  const lines: string[] = [];
  createDebug.log = (...args: unknown[]) => {
    // As debug's own stderr writer formats them: objects inspected in depth.
    lines.push(formatWithOptions({ depth: 6 }, ...args));
  };
  createDebug('vaultctl-test')('control line');
  await new VaultNodeApi({ address, token: TOKEN }).read('sys/leader');
  return lines.join('\n');
}

describe('debug output of the HTTP stack', () => {
  it('without the guard, DEBUG=* prints the token (the leak this guards against)', async () => {
    createDebug.enable('*');
    const out = await debugOutputOfARequest();
    expect(out).toContain('control line');
    expect(out).toContain(TOKEN);
  });

  it('with the guard, DEBUG=* still prints other namespaces but never the token', async () => {
    createDebug.enable('*');
    silenceSecretLeakingDebug();
    const out = await debugOutputOfARequest();
    expect(out).toContain('control line');
    expect(out).not.toContain(TOKEN);
    expect(out).not.toContain('X-Vault-Token');
  });

  it('DEBUG=follow-redirects alone is switched off too', async () => {
    createDebug.enable('follow-redirects');
    silenceSecretLeakingDebug();
    const out = await debugOutputOfARequest();
    expect(out).not.toContain(TOKEN);
  });
});
