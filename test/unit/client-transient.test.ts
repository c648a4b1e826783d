/**
 * VaultClient against a local HTTP server: a node that has just become active answers 400 while it
 * upgrades the KV mount; the client waits it out instead of failing the caller.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VaultClient } from '../../src/client/index.js';

let server: Server;
let address: string;
let upgrading = 2;
beforeAll(async () => {
  server = createServer((_req, res) => {
    res.setHeader('content-type', 'application/json');
    if (upgrading > 0) {
      upgrading--;
      res.writeHead(400);
      res.end(
        '{"errors":["Waiting for the primary to upgrade from non-versioned to versioned data. Try again later."]}',
      );
      return;
    }
    res.writeHead(200);
    res.end('{"data":{"data":{"api_key":"k"},"metadata":{"version":1}}}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  address = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => server.close());

describe('VaultClient and a node upgrading its KV mount', () => {
  it('retries the 400 that says "waiting for the primary to upgrade" and returns the value', async () => {
    const client = new VaultClient({ addresses: [address], token: 't', cache: { enabled: false }, env: {} });
    expect(await client.readSecret('tenants/x/exchanges/y/readonly')).toEqual({ api_key: 'k' });
    expect(upgrading).toBe(0);
  });
});
