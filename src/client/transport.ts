/**
 * The lean path for VaultClient's hot operations (KV v2 read and write): one request on Node's own
 * HTTP client over a keep-alive connection pool per node, with nothing per call but the request.
 *
 * Why not node-vault here: its generic `request` validates the options with tv4, copies them, and
 * hands them to axios, which merges configs, runs interceptors and adapters and goes through
 * follow-redirects for every call; measured with a CPU profile of `vaultctl bench`, that stack
 * was most of the client's 0.9 ms of CPU per uncached read (README, Benchmarks). node-vault keeps
 * the operations that are not hot (AppRole login, health, list, delete).
 *
 * No debug output of any kind: request bodies hold secret values and headers the token.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

export interface TlsMaterial {
  readonly ca?: string | undefined;
  readonly cert?: string | undefined;
  readonly key?: string | undefined;
}

/** A node's answer that is not 200/204, in the shape VaultClient classifies (node-vault's). */
export class NodeStatusError extends Error {
  readonly response: { readonly statusCode: number; readonly body: { errors?: string[] } | undefined };

  constructor(statusCode: number, body: unknown) {
    const errors = (body as { errors?: unknown } | undefined)?.errors;
    const list = Array.isArray(errors) ? errors.map(String) : undefined;
    super(list?.[0] ?? `Status ${statusCode}`);
    this.name = 'NodeStatusError';
    this.response = { statusCode, body: list ? { errors: list } : undefined };
  }
}

/** No HTTP answer: refused, reset, or no complete answer within the timeout. */
export class NoAnswerError extends Error {
  readonly code: string;

  constructor(code: string, message: string) {
    super(message);
    this.name = 'NoAnswerError';
    this.code = code;
  }
}

type Send = typeof httpRequest;

/** One node's connection pool and request function. */
export class NodeTransport {
  private readonly agent: HttpAgent;
  private readonly send: Send;
  private readonly hostname: string;
  private readonly port: number;
  private readonly prefix: string;

  constructor(address: string, tls: TlsMaterial, maxSockets = 64) {
    const url = new URL(address);
    const https = url.protocol === 'https:';
    this.hostname = url.hostname.replace(/^\[|\]$/g, '');
    this.port = Number(url.port || (https ? 443 : 80));
    this.prefix = `${url.pathname.replace(/\/$/, '')}/v1`;
    // TLS material lives on the agent: every pooled connection verifies against the CA (never skipped).
    this.agent = https
      ? new HttpsAgent({
          keepAlive: true,
          maxSockets,
          ...(tls.ca ? { ca: tls.ca } : {}),
          ...(tls.cert && tls.key ? { cert: tls.cert, key: tls.key } : {}),
        })
      : new HttpAgent({ keepAlive: true, maxSockets });
    this.send = https ? (httpsRequest as Send) : httpRequest;
  }

  /**
   * One request; resolves with the parsed JSON body of a 200/204 (undefined when empty).
   * @throws NodeStatusError for any other status; NoAnswerError when no complete answer came
   *   within `timeoutMs` (the whole exchange, not an idle gap) or the connection failed.
   */
  request(
    method: string,
    path: string,
    body: unknown,
    token: string | undefined,
    timeoutMs: number,
  ): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const headers: Record<string, string | number> = {};
      if (token) headers['X-Vault-Token'] = token;
      if (payload !== undefined) {
        headers['Content-Type'] = 'application/json';
        headers['Content-Length'] = Buffer.byteLength(payload);
      }
      let done = false;
      let timedOut = false;
      const fail = (err: Error) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        reject(err);
      };
      const req = this.send(
        {
          agent: this.agent,
          hostname: this.hostname,
          port: this.port,
          method,
          path: this.prefix + path,
          headers,
        },
        (res: IncomingMessage) => {
          res.setEncoding('utf8');
          let text = '';
          res.on('data', (chunk: string) => {
            text += chunk;
          });
          res.on('error', (err: NodeJS.ErrnoException) =>
            fail(
              timedOut
                ? new NoAnswerError('ETIMEDOUT', `no complete answer within ${timeoutMs} ms`)
                : new NoAnswerError(err.code ?? 'ECONNRESET', `answer cut off: ${err.message}`),
            ),
          );
          res.on('end', () => {
            if (done) return;
            done = true;
            clearTimeout(timer);
            let parsed: unknown;
            if (text.length > 0) {
              try {
                parsed = JSON.parse(text);
              } catch {
                parsed = undefined;
              }
            }
            const status = res.statusCode ?? 0;
            if (status === 200 || status === 204) resolve(parsed);
            else reject(new NodeStatusError(status, parsed));
          });
        },
      );
      const timer = setTimeout(() => {
        timedOut = true;
        req.destroy(new NoAnswerError('ETIMEDOUT', `no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      req.on('error', (err: NodeJS.ErrnoException) =>
        fail(err instanceof NoAnswerError ? err : new NoAnswerError(err.code ?? 'ECONNRESET', err.message)),
      );
      req.end(payload);
    });
  }

  /** Closes the pooled connections. */
  close(): void {
    this.agent.destroy();
  }
}
