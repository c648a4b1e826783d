/**
 * Streaming requests for the raft snapshot endpoints. node-vault buffers whole bodies (axios
 * with JSON), which would hold a snapshot in memory twice; these two use node:https (or http)
 * directly with the same TLS material, so snapshots flow through with constant memory.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Readable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import type { VaultTls } from './port.js';
import { VaultRequestError } from './port.js';

interface StreamTarget {
  readonly address: string;
  readonly token: string;
  readonly tls?: VaultTls | undefined;
}

function send(
  target: StreamTarget,
  method: string,
  path: string,
  what: string,
  body?: Readable,
  signal?: AbortSignal,
): Promise<IncomingMessage> {
  const url = new URL(`${target.address.replace(/\/$/, '')}/v1${path}`);
  const https = url.protocol === 'https:';
  const options = {
    method,
    headers: {
      'X-Vault-Token': target.token,
      ...(body ? { 'Content-Type': 'application/octet-stream' } : {}),
    },
    ...(https && target.tls
      ? { ca: target.tls.ca, ...(target.tls.cert ? { cert: target.tls.cert, key: target.tls.key } : {}) }
      : {}),
    ...(signal ? { signal } : {}),
  };
  return new Promise((resolve, reject) => {
    const req = (https ? httpsRequest : httpRequest)(url, options, (res) => {
      if ((res.statusCode ?? 0) >= 300) {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          if (text.length < 4096) text += d;
        });
        res.on('end', () => {
          let errors: string[] = [];
          try {
            errors = (JSON.parse(text) as { errors?: string[] }).errors ?? [];
          } catch {
            errors = text ? [text.trim().slice(0, 200)] : [];
          }
          reject(
            new VaultRequestError(target.address, what, 'http', { status: res.statusCode ?? 0, errors }),
          );
        });
        return;
      }
      resolve(res);
    });
    req.on('error', (err: Error & { code?: string }) => {
      // Cancelled by the caller (Ctrl-C): not a failure of the node.
      if (err.name === 'AbortError') return reject(err);
      const tls = /CERT|SSL|TLS|SELF_SIGNED/i.test(err.code ?? '');
      reject(new VaultRequestError(target.address, what, tls ? 'tls' : 'unreachable', { cause: err }));
    });
    if (body) {
      pipeline(body, req).catch((err) => req.destroy(err as Error));
    } else {
      req.end();
    }
  });
}

/** GET sys/storage/raft/snapshot: the response body, to be piped to disk. */
export function snapshotDownload(target: StreamTarget, signal?: AbortSignal): Promise<IncomingMessage> {
  return send(target, 'GET', '/sys/storage/raft/snapshot', 'reading a raft snapshot', undefined, signal);
}

/**
 * POST sys/storage/raft/snapshot(-force) with the snapshot streamed from `body`. Aborting `signal`
 * (Ctrl-C) cuts the upload off mid-stream and rejects with an AbortError.
 */
export async function snapshotUpload(
  target: StreamTarget,
  body: Readable,
  force: boolean,
  signal?: AbortSignal,
): Promise<void> {
  const res = await send(
    target,
    'POST',
    force ? '/sys/storage/raft/snapshot-force' : '/sys/storage/raft/snapshot',
    force ? 'restoring a raft snapshot (forced)' : 'restoring a raft snapshot',
    body,
    signal,
  );
  // finished, not 'end': an abort after the headers would never end the response.
  await finished(res.resume());
}
