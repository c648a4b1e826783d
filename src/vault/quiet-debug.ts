/**
 * No debug switch may print a secret. The HTTP stack under node-vault logs whole request options
 * through the `debug` package when DEBUG matches its namespace (`DEBUG=*`, `DEBUG=follow-redirects`):
 * headers with X-Vault-Token, bodies with key shares and secret values. vaultctl's own debug output
 * (`--verbose`, `DEBUG=vaultctl:*`) does not use that package, so these namespaces are switched off
 * whatever DEBUG says, before the first request.
 */
import createDebug from 'debug';

/** Namespaces that log request headers or bodies. */
export const SECRET_LEAKING_DEBUG = ['follow-redirects', 'node-vault', 'axios'] as const;

export function silenceSecretLeakingDebug(): void {
  // `disable` returns what was enabled; enabling it again with exclusions keeps the rest of a
  // host program's DEBUG setting intact.
  const enabled = createDebug.disable();
  if (!enabled) return;
  createDebug.enable([enabled, ...SECRET_LEAKING_DEBUG.map((n) => `-${n}`)].join(','));
}
