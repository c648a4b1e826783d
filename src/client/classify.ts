/**
 * What a failed request means for VaultClient's retry loop: try another node, log in again, or
 * give up. Errors from node-vault and from the lean transport have the same shape (a `response`
 * with the status and Vault's `errors`, or a `code` when no answer came).
 */
import { VaultForbiddenError, VaultRequestRejectedError, VaultUnavailableError } from './errors.js';

/** 400 answers that say the node is not ready yet, not that the request is wrong. */
const TRANSIENT_400 = /waiting for the primary to upgrade|upgrading from non-versioned to versioned/i;

interface RequestError extends Error {
  response?: { statusCode?: number; body?: { errors?: string[] } };
  code?: string;
}

export type Failure =
  | { kind: 'retry'; error: Error }
  | { kind: 'forbidden'; error: Error }
  | { kind: 'fatal'; error: Error };

export function classify(err: unknown): Failure {
  const e = err as RequestError;
  const status = e.response?.statusCode;
  const detail = e.response?.body?.errors?.join('; ') ?? e.message;
  if (status === undefined)
    return {
      kind: 'retry',
      error: new VaultUnavailableError(`no answer: ${e.code ?? e.message}`, { cause: err }),
    };
  if (status === 403)
    return { kind: 'forbidden', error: new VaultForbiddenError(`permission denied: ${detail}`) };
  // A node that has just become active answers 400 while it upgrades the KV mount's data
  // ("Waiting for the primary to upgrade from non-versioned to versioned data"): it passes.
  if (status >= 500 || status === 429 || status === 412 || (status === 400 && TRANSIENT_400.test(detail))) {
    return { kind: 'retry', error: new VaultUnavailableError(`HTTP ${status}: ${detail}`) };
  }
  return { kind: 'fatal', error: new VaultRequestRejectedError(`HTTP ${status}: ${detail}`, status) };
}
