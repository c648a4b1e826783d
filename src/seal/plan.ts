/**
 * The pure part of a seal migration: what can be migrated, which key shares `-migrate` takes, what
 * the shares are afterwards, and the order of the nodes (standbys first, the active node last,
 * after a step-down), the same for the migration and for the final restart without the old seal.
 */
import { UsageError } from '../errors.js';
import type { SealType } from '../spec/schema.js';
import type { InitMaterial } from '../state/state-dir.js';

/** The two rounds over the nodes: with the old seal disabled beside the new one, then without it. */
export type MigrationPhase = 'migrate' | 'finalize';

export interface NodeStep {
  readonly phase: MigrationPhase;
  readonly node: string;
  /** The node is the active one: it steps down before it restarts, so a migrated node takes over. */
  readonly stepDown: boolean;
  /** The node restarts on the new seal alone (the storage is migrated already): no -migrate. */
  readonly direct?: boolean;
}

/** A step's key in the journal. */
export function stepId(phase: MigrationPhase, node: string): string {
  return `${phase}:${node}`;
}

/**
 * The shares `unseal -migrate` takes: the unseal keys when the old seal is Shamir (they become
 * recovery keys), otherwise the recovery keys (auto -> auto keeps them; auto -> Shamir makes them
 * the unseal keys).
 */
export function migrateKeyKind(from: SealType): InitMaterial['keyKind'] {
  return from === 'shamir' ? 'unseal' : 'recovery';
}

/** What the stored shares are once the migration is done. */
export function keyKindAfter(to: SealType): InitMaterial['keyKind'] {
  return to === 'shamir' ? 'unseal' : 'recovery';
}

/**
 * Why this migration cannot work, checked before anything is touched (undefined: it can). The
 * seal rules of the target's flavor and version are `resolveSpec`'s, applied when the target spec
 * is made.
 */
export function migrationRefusal(
  from: SealType,
  to: SealType,
  material: InitMaterial | undefined,
  initFile: string,
): UsageError | undefined {
  const doing = `migrating the seal from ${from} to ${to}`;
  if (from === to)
    return new UsageError(
      doing,
      `the cluster already uses the ${to} seal`,
      'nothing to do; `vaultctl health` shows the seal of every node',
    );
  const need = migrateKeyKind(from);
  if (!material || material.keys.length === 0)
    return new UsageError(
      doing,
      `no key shares in ${initFile}: \`unseal -migrate\` needs the ${need} keys`,
      'restore init.json from your backup of the state dir, or run `vaultctl init` if the cluster was never initialised',
    );
  if (material.pgp)
    return new UsageError(
      doing,
      'the stored key shares are PGP-encrypted: vaultctl cannot submit them',
      'migrate by hand with `bao operator unseal -migrate` and the decrypted shares (see the README, seal migrate)',
    );
  if (material.keyKind !== need)
    return new UsageError(
      doing,
      `${initFile} holds ${material.keyKind} keys, but from the ${from} seal \`unseal -migrate\` takes ${need} keys`,
      'the state dir does not match the running cluster: check --state-dir and --cluster',
    );
  if (material.keys.length < material.threshold)
    return new UsageError(
      doing,
      `${initFile} holds ${material.keys.length} key shares, the threshold is ${material.threshold}`,
      'restore init.json from your backup of the state dir',
    );
  return undefined;
}

/**
 * The next node of a phase: the first one not done (spec order) that is not active; the active
 * node only when it is the last, with a step-down. Chosen afresh before every node, so a leader
 * that changed in between (or on a rerun) still goes last.
 */
export function nextNode(
  phase: MigrationPhase,
  order: readonly string[],
  done: ReadonlySet<string>,
  active: string | undefined,
): NodeStep | undefined {
  const left = order.filter((n) => !done.has(stepId(phase, n)));
  if (left.length === 0) return undefined;
  const standby = left.find((n) => n !== active);
  if (standby !== undefined) return { phase, node: standby, stepDown: false };
  return { phase, node: left[0]!, stepDown: true };
}

/**
 * The whole order for --dry-run: the migration round with the active node now, then the final
 * round assuming the first migrated standby took over (the real run asks the cluster each time).
 */
export function planNodeSteps(
  order: readonly string[],
  done: ReadonlySet<string>,
  active: string | undefined,
): NodeStep[] {
  const steps: NodeStep[] = [];
  const seen = new Set(done);
  let leader = active;
  for (const phase of ['migrate', 'finalize'] as const) {
    for (let s = nextNode(phase, order, seen, leader); s; s = nextNode(phase, order, seen, leader)) {
      const direct = phase === 'finalize' || s.stepDown;
      steps.push(direct ? { ...s, direct } : s);
      seen.add(stepId(phase, s.node));
      // The old active node comes back after the new one migrated the storage: straight to the
      // final config (see migrate.ts), so it has no second round.
      if (s.stepDown && phase === 'migrate') seen.add(stepId('finalize', s.node));
      if (s.stepDown) leader = order.find((n) => n !== s.node);
    }
  }
  return steps;
}
