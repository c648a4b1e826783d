/**
 * Server versions (x.y.z) and how two compare: the one comparison the seal rules, the spec's
 * image checks and `vaultctl upgrade` share.
 */
import { UsageError } from '../errors.js';

/** The numeric parts of "2.7.2" (a "v" prefix and a "+meta"/"-rc" suffix ignored). */
function parts(v: string): [number, number, number] {
  const m = /^v?(\d+)\.(\d+)\.(\d+)/.exec(v.trim());
  if (!m) throw new UsageError('comparing server versions', `"${v}" is not a version`, 'expected X.Y.Z');
  return [Number(m[1]), Number(m[2]), Number(m[3])];
}

/** -1, 0 or 1 as a is older than, the same as, or newer than b (numerically: 2.10.0 > 2.9.9). */
export function compareVersions(a: string, b: string): number {
  const x = parts(a);
  const y = parts(b);
  for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return x[i]! < y[i]! ? -1 : 1;
  return 0;
}
