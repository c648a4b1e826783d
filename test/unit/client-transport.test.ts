/**
 * VaultClient's lean path (transport.ts) against a local HTTP server: what it sends, how it reads
 * answers, and how its failures look to the client's retry loop (classify.ts).
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classify } from '../../src/client/classify.js';
import { VaultClient } from '../../src/client/index.js';
import { NoAnswerError, NodeStatusError, NodeTransport } from '../../src/client/transport.js';

let server: Server;
let address: string;
const seen: { method: string; url: string; token: string | undefined; body: string; sockets: number }[] = [];
const sockets = new Set<unknown>();
beforeAll(async () => {
  server = createServer((req: IncomingMessage, res) => {
    sockets.add(req.socket);
    let body = '';
    req.on('data', (d) => {
      body += d;
    });
    req.on('end', () => {
      seen.push({
        method: req.method!,
        url: req.url!,
        token: req.headers['x-vault-token'] as string | undefined,
        body,
        sockets: sockets.size,
      });
      if (req.url!.includes('/slow')) return; // never answers
      res.setHeader('content-type', 'application/json');
      if (req.url!.includes('/missing')) {
        res.writeHead(404);
        res.end('{"errors":[]}');
      } else if (req.url!.includes('/denied')) {
        res.writeHead(403);
        res.end('{"errors":["permission denied"]}');
      } else if (req.url!.includes('/sealed')) {
        res.writeHead(503);
        res.end('{"errors":["Vault is sealed"]}');
      } else if (req.method === 'POST') {
        res.writeHead(200);
        res.end('{"data":{"version":3}}');
      } else {
        res.writeHead(200);
        res.end('{"data":{"data":{"api_key":"k"},"metadata":{"version":2}}}');
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  address = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => {
  server.closeAllConnections();
  server.close();
});

describe('NodeTransport', () => {
  it('sends the token and a JSON body under /v1, and reuses one kept-alive connection', async () => {
    const t = new NodeTransport(address, {});
    const before = seen.length;
    expect(await t.request('POST', '/secret/data/a', { data: { x: 1 } }, 'tok', 1000)).toEqual({
      data: { version: 3 },
    });
    for (let i = 0; i < 5; i++) await t.request('GET', '/secret/data/a', undefined, 'tok', 1000);
    const mine = seen.slice(before);
    expect(mine[0]).toMatchObject({
      method: 'POST',
      url: '/v1/secret/data/a',
      token: 'tok',
      body: '{"data":{"x":1}}',
    });
    expect(mine.at(-1)!.sockets).toBe(mine[0]!.sockets);
    t.close();
  });

  it('rejects a status other than 200/204 with the status and Vault’s errors, classified like node-vault’s', async () => {
    const t = new NodeTransport(address, {});
    const denied = await t.request('GET', '/denied', undefined, 'tok', 1000).catch((e: unknown) => e);
    expect(denied).toBeInstanceOf(NodeStatusError);
    expect(classify(denied).kind).toBe('forbidden');
    const sealed = await t.request('GET', '/sealed', undefined, 'tok', 1000).catch((e: unknown) => e);
    expect((sealed as NodeStatusError).response.statusCode).toBe(503);
    expect(classify(sealed)).toMatchObject({ kind: 'retry' });
    expect(classify(sealed).error.message).toContain('Vault is sealed');
    t.close();
  });

  it('gives up on a node that does not answer within the timeout, and on a refused connection', async () => {
    const t = new NodeTransport(address, {});
    const started = Date.now();
    const slow = await t.request('GET', '/slow', undefined, 'tok', 150).catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(slow).toBeInstanceOf(NoAnswerError);
    expect((slow as NoAnswerError).code).toBe('ETIMEDOUT');
    expect(classify(slow).kind).toBe('retry');
    t.close();
    const dead = new NodeTransport('http://127.0.0.1:1', {});
    const refused = await dead.request('GET', '/x', undefined, 'tok', 1000).catch((e: unknown) => e);
    expect((refused as NoAnswerError).code).toBe('ECONNREFUSED');
    dead.close();
  });
});

describe('VaultClient on the lean path', () => {
  it('reads and writes through it, returns null for an absent secret, and never puts the token in an error', async () => {
    const client = new VaultClient({
      addresses: [address],
      token: 'secret-token',
      cache: { enabled: false },
      env: {},
    });
    expect(await client.readSecretWithMeta('tenants/a')).toMatchObject({
      data: { api_key: 'k' },
      version: 2,
    });
    expect(await client.writeSecret('tenants/a', { api_key: 'k' })).toEqual({ version: 3 });
    expect(await client.readSecret('missing')).toBeNull();
    const err = (await client.readSecret('denied').catch((e: unknown) => e)) as Error;
    expect(err.name).toBe('VaultForbiddenError');
    expect(`${err.message} ${String(err.stack)}`).not.toContain('secret-token');
    await client.close();
  });
});
