/** VaultClient's errors: what a caller can tell apart and act on. */
export class VaultClientError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}
/** The caller's token (or AppRole) may not do this. */
export class VaultForbiddenError extends VaultClientError {}
/** No node could serve the request within the attempts allowed. */
export class VaultUnavailableError extends VaultClientError {}
/** The request itself is wrong (bad path, bad input); retrying will not help. */
export class VaultRequestRejectedError extends VaultClientError {
  readonly status: number;
  constructor(message: string, status: number) {
    super(message);
    this.status = status;
  }
}
/** Input refused before any request (e.g. a tenant id that is not a UUID). */
export class VaultInvalidInputError extends VaultClientError {}
