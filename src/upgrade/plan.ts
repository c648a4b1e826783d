/**
 * The order of a rolling upgrade, as a pure function of what the nodes are now: standbys first,
 * one at a time; the leader last, after a step-down that hands leadership to an upgraded node.
 * `nextAction` is asked again after every step, so a leader change in between (or a rerun after
 * Ctrl-C) still picks the right next step, and nodes already on the target are skipped.
 */

export interface NodeState {
  readonly name: string;
  /** Its container already is the one the target spec renders (image included). */
  readonly upgraded: boolean;
  readonly active: boolean;
}

export type UpgradeAction =
  | { readonly kind: 'recreate'; readonly node: string; readonly reason: string }
  | { readonly kind: 'step-down'; readonly node: string; readonly reason: string }
  | { readonly kind: 'done'; readonly reason: string };

/**
 * The next step. Never fails over to an older node: the leader steps down only when every other
 * node is upgraded, so whoever is elected runs the target.
 */
export function nextAction(nodes: readonly NodeState[], target: string): UpgradeAction {
  const old = nodes.filter((n) => !n.upgraded);
  if (old.length === 0) return { kind: 'done', reason: `every node runs ${target}` };
  const standby = old.find((n) => !n.active);
  if (standby) {
    const leader = nodes.find((n) => n.active);
    return {
      kind: 'recreate',
      node: standby.name,
      reason: `standby${leader ? ` (leader ${leader.name} keeps serving)` : ''}: recreate with ${target}, same volumes`,
    };
  }
  const leader = old[0]!;
  return {
    kind: 'step-down',
    node: leader.name,
    reason: `the leader is the last node on the old version: hand leadership to an upgraded node (${nodes
      .filter((n) => n.upgraded)
      .map((n) => n.name)
      .join(', ')}) first`,
  };
}

/** After a step-down the old leader is a standby: the whole sequence the loop will run. */
export function planUpgrade(nodes: readonly NodeState[], target: string): UpgradeAction[] {
  const steps: UpgradeAction[] = [];
  let state = nodes.map((n) => ({ ...n }));
  for (let i = 0; i < 2 * nodes.length + 1; i++) {
    const a = nextAction(state, target);
    if (a.kind === 'done') break;
    steps.push(a);
    if (a.kind === 'recreate') state = state.map((n) => (n.name === a.node ? { ...n, upgraded: true } : n));
    else {
      // The planned successor: the first upgraded node (the real one is whoever raft elects).
      const next = state.find((n) => n.upgraded)?.name;
      state = state.map((n) => ({ ...n, active: n.name === next }));
    }
  }
  return steps;
}
