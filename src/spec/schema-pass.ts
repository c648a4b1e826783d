/**
 * The schema pass of spec validation. A spec the schema refuses still goes on to the cross-field
 * rules: the refused values are taken out of a copy (defaults fill their place), so that a typo in
 * one field does not hide an even node count or duplicate ports elsewhere. The rules must then skip
 * what reads a refused value, since a default standing in for it would make them judge a value the
 * user never wrote.
 */
import type { z } from 'zod';
import { type ParsedSpec, type SpecProblem, specInputSchema } from './schema.js';

export interface SchemaPass {
  /** The parsed spec, repaired when the input had problems; undefined when it could not be. */
  readonly data: ParsedSpec | undefined;
  readonly problems: readonly SpecProblem[];
  /** Dotted paths of the values the schema refused and the repair removed. */
  readonly refused: readonly string[];
}

type Path = readonly PropertyKey[];
type Json = Record<PropertyKey, unknown>;

/** A repair removes at least one value per round: a spec deeper than this is not worth repairing. */
const MAX_ROUNDS = 10;

/** Parses the input; on failure, repairs a copy so that the cross-field rules can run too. */
export function schemaPass(input: unknown): SchemaPass {
  const first = specInputSchema.safeParse(input ?? {});
  if (first.success) return { data: first.data, problems: [], refused: [] };
  const problems = first.error.issues.flatMap(describeIssue);
  if (!isObject(input)) return { data: undefined, problems, refused: [] };

  const copy = structuredClone(input);
  const refused: string[] = [];
  let issues = first.error.issues;
  for (let round = 0; round < MAX_ROUNDS; round++) {
    for (const issue of issues) {
      if (issue.code === 'unrecognized_keys') {
        // An unknown key carries no value a rule reads: removing it refuses nothing.
        for (const k of issue.keys) removeAt(copy, [...issue.path, k]);
        continue;
      }
      const removed = removeValue(copy, issue.path);
      if (!removed) return { data: undefined, problems, refused };
      refused.push(removed.map(String).join('.'));
    }
    const next = specInputSchema.safeParse(copy);
    if (next.success) return { data: next.data, problems, refused };
    issues = next.error.issues;
  }
  return { data: undefined, problems, refused };
}

/** True when none of the paths a rule reads was refused (nor anything inside or around it). */
export function readsOnlyAccepted(refused: readonly string[], reads: readonly string[]): boolean {
  return !reads.some((p) => refused.some((r) => p === r || p.startsWith(`${r}.`) || r.startsWith(`${p}.`)));
}

function describeIssue(i: z.core.$ZodIssue): SpecProblem[] {
  const base = i.path.map(String);
  // zod reports unknown keys at the parent; name each key so the user sees where it is.
  if (i.code === 'unrecognized_keys') {
    return i.keys.map((k) => ({ path: [...base, k].join('.'), message: 'unknown field' }));
  }
  return [{ path: base.join('.'), message: i.message }];
}

/**
 * Removes the refused value at path and returns the path removed. A value inside a list takes the
 * whole list with it (removing one element would renumber the others); a required value that is
 * missing takes the object that lacks it. Undefined when nothing is left to remove.
 */
function removeValue(root: Json, path: Path): Path | undefined {
  let p = cutAtList(root, path);
  while (p.length > 0) {
    if (removeAt(root, p)) return p;
    p = p.slice(0, -1);
  }
  return undefined;
}

function cutAtList(root: Json, path: Path): Path {
  let cur: unknown = root;
  for (let i = 0; i < path.length; i++) {
    cur = isObject(cur) ? cur[path[i]!] : undefined;
    if (Array.isArray(cur)) return path.slice(0, i + 1);
  }
  return path;
}

function removeAt(root: Json, path: Path): boolean {
  let cur: unknown = root;
  for (const k of path.slice(0, -1))
    cur = typeof cur === 'object' && cur !== null ? (cur as Json)[k] : undefined;
  const last = path[path.length - 1];
  if (last === undefined || !isObject(cur) || cur[last] === undefined) return false;
  delete cur[last];
  return true;
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
