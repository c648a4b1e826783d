/** The node-vault adapter against a local HTTP server: which answers count as Vault answers. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VaultNodeApi } from '../../src/vault/api.js';
import { VaultRequestError } from '../../src/vault/port.js';

let server: Server;
let api: VaultNodeApi;
beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url?.startsWith('/v1/sys/storage/raft/autopilot/configuration')) {
      res.writeHead(204);
      res.end();
    } else if (req.url?.startsWith('/v1/sys/health')) {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html>a proxy page</html>');
    } else {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"errors":[]}');
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  api = new VaultNodeApi({ address: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
});
afterAll(() => server.close());

describe('VaultNodeApi answers', () => {
  it('an empty 204 answer is a success', async () => {
    await expect(api.setAutopilotConfig({ cleanup_dead_servers: true })).resolves.toBeUndefined();
  });

  it('a text answer is not taken for a Vault answer', async () => {
    const err = await api.health().catch((e) => e);
    expect(err).toBeInstanceOf(VaultRequestError);
    expect((err as VaultRequestError).message).toContain('a proxy page');
  });

  it('a JSON 404 is an http error with its status', async () => {
    const err = await api.read('secret/data/nothing').catch((e) => e);
    expect((err as VaultRequestError).status).toBe(404);
  });
});

describe('VaultRequestError keeps no request in its cause', () => {
  it('drops the headers (the token) and keeps the message and code', async () => {
    const { inspect } = await import('node:util');
    const token = 's.not-a-real-token-0123456789';
    const raw = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), {
      code: 'ECONNREFUSED',
      options: { headers: { 'X-Vault-Token': token } },
      config: { headers: { 'X-Vault-Token': token } },
      response: { request: { headers: { 'X-Vault-Token': token } } },
    });
    const err = new VaultRequestError('https://127.0.0.1:1', 'reading x', 'unreachable', { cause: raw });
    const printed = inspect(err, { depth: 10 });
    expect(printed).not.toContain(token);
    expect(JSON.stringify(err)).not.toContain(token);
    expect((err.cause as Error & { code?: string }).code).toBe('ECONNREFUSED');
    expect((err.cause as Error).message).toBe('connect ECONNREFUSED 127.0.0.1:1');
    expect(err.message).toContain('ECONNREFUSED');
  });
});
