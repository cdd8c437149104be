import { consistent, leavesAt, merge, type Leaf, type Membership } from './event-leaves.js';
import { compilePattern } from './parse-pattern.js';
import type { FieldCondition, ValueMatcher } from './types.js';
import { ValueIndex } from './value-index.js';

/*
 * All rules share one automaton, in the manner of AWS's event-ruler. A rule branch is a list of
 * field conditions in a canonical order; each condition is an edge (path) plus a target (the exact
 * set of alternatives) leading to the next state, and equal prefixes of different rules share
 * states. Matching walks from the root: at each state, for each path leaving it, the event's leaves
 * at that path are looked up in one ValueIndex, and only the states reached are explored. Cost
 * grows with the event's fields and the rules that actually match, not with the number of rules.
 */

interface State<R extends string> {
  readonly terminals: Map<R, number>;
  readonly edges: Map<string, Edge<R>>;
}

interface Edge<R extends string> {
  readonly segments: readonly string[];
  readonly targets: Map<string, Target<R>>;
  readonly index: ValueIndex<Target<R>>;
  readonly absenceTargets: Set<Target<R>>;
}

interface Target<R extends string> {
  readonly field: FieldCondition;
  readonly next: State<R>;
  refs: number;
  mark: number;
}

// Cheap, selective conditions first so that shared states fan out through Map lookups; conditions
// that must scan (anything-but) or depend on what was chosen before (exists:false) come last.
function matcherRank(m: ValueMatcher): number {
  switch (m.kind) {
    case 'exact-string':
    case 'exact-number':
    case 'literal':
    case 'equals-ignore-case':
      return 0;
    case 'ip-range':
      return m.lo === m.hi ? 0 : 1;
    case 'prefix':
    case 'suffix':
    case 'numeric':
      return 1;
    case 'wildcard':
      return m.literalPrefix !== '' || m.literalSuffix !== '' ? 1 : 2;
    case 'exists':
      return 2;
    case 'anything-but':
    case 'anything-but-prefix':
    case 'anything-but-suffix':
    case 'anything-but-ignore-case':
    case 'anything-but-wildcard':
      return 3;
    case 'absent':
      return 0;
  }
}

function fieldRank(f: FieldCondition): number {
  if (f.allowsAbsence) return f.hasValueMatchers ? 4 : 5;
  return Math.max(...f.matchers.map(matcherRank));
}

function canonicalOrder(fields: readonly FieldCondition[]): FieldCondition[] {
  return [...fields]
    .map((f) => ({ f, rank: fieldRank(f) }))
    .sort((a, b) => a.rank - b.rank || (a.f.path < b.f.path ? -1 : a.f.path > b.f.path ? 1 : 0))
    .map((x) => x.f);
}

function newState<R extends string>(): State<R> {
  return { terminals: new Map(), edges: new Map() };
}

export class RuleMatcher<R extends string = string> {
  private readonly root: State<R> = newState();
  private readonly rules = new Map<R, FieldCondition[][]>();

  /** Number of rules held. */
  get size(): number {
    return this.rules.size;
  }

  /**
   * Validates the pattern and compiles it into the shared automaton; re-adding an id replaces it.
   * Throws KeywayError(INVALID_PATTERN) and leaves the matcher unchanged when the pattern is invalid.
   */
  add(ruleId: R, pattern: unknown): void {
    const compiled = compilePattern(pattern);
    this.remove(ruleId);
    const branches = compiled.branches.map(canonicalOrder);
    for (const branch of branches) this.insert(ruleId, branch);
    this.rules.set(ruleId, branches);
  }

  /** Removes a rule; returns false when no rule had that id. */
  remove(ruleId: R): boolean {
    const branches = this.rules.get(ruleId);
    if (branches === undefined) return false;
    for (const branch of branches) this.erase(ruleId, branch);
    this.rules.delete(ruleId);
    return true;
  }

  private insert(ruleId: R, branch: readonly FieldCondition[]): void {
    let state = this.root;
    for (const field of branch) {
      let edge = state.edges.get(field.path);
      if (edge === undefined) {
        edge = { segments: field.segments, targets: new Map(), index: new ValueIndex(), absenceTargets: new Set() };
        state.edges.set(field.path, edge);
      }
      let target = edge.targets.get(field.key);
      if (target === undefined) {
        target = { field, next: newState(), refs: 0, mark: 0 };
        edge.targets.set(field.key, target);
        for (const m of field.matchers) edge.index.add(m, target);
        if (field.allowsAbsence) edge.absenceTargets.add(target);
      }
      target.refs++;
      state = target.next;
    }
    state.terminals.set(ruleId, (state.terminals.get(ruleId) ?? 0) + 1);
  }

  private erase(ruleId: R, branch: readonly FieldCondition[]): void {
    const steps: { state: State<R>; edge: Edge<R>; target: Target<R> }[] = [];
    let state = this.root;
    for (const field of branch) {
      const edge = state.edges.get(field.path);
      const target = edge?.targets.get(field.key);
      if (edge === undefined || target === undefined) return;
      steps.push({ state, edge, target });
      target.refs--;
      state = target.next;
    }
    const left = (state.terminals.get(ruleId) ?? 1) - 1;
    if (left > 0) state.terminals.set(ruleId, left);
    else state.terminals.delete(ruleId);
    for (let i = steps.length - 1; i >= 0; i--) {
      const step = steps[i];
      if (step === undefined || step.target.refs > 0) continue;
      step.edge.targets.delete(step.target.field.key);
      step.edge.index.removeTarget(step.target);
      step.edge.absenceTargets.delete(step.target);
      if (step.edge.targets.size === 0) step.state.edges.delete(step.target.field.path);
    }
  }

  /** Ids of all rules the event matches, each once, in no particular order. */
  match(event: unknown): R[] {
    const found = new Set<R>();
    const leafCache = new Map<string, Leaf[]>();
    const leavesFor = (path: string, segments: readonly string[]): Leaf[] => {
      let leaves = leafCache.get(path);
      if (leaves === undefined) {
        leaves = leavesAt(event, segments);
        leafCache.set(path, leaves);
      }
      return leaves;
    };

    const visit = (state: State<R>, chosen: Membership | null): void => {
      for (const id of state.terminals.keys()) found.add(id);
      for (const [path, edge] of state.edges) {
        const leaves = leavesFor(path, edge.segments);
        let anyConsistent = false;
        if (leaves.length === 1 && leaves[0]?.membership === null) {
          anyConsistent = true;
          const hits: Target<R>[] = [];
          edge.index.lookup(leaves[0].value, hits);
          for (const t of hits) visit(t.next, chosen);
        } else if (leaves.length > 0) {
          const next: { target: Target<R>; membership: Membership | null }[] = [];
          const seenPlain = new Set<Target<R>>();
          for (const leaf of leaves) {
            if (!consistent(chosen, leaf.membership)) continue;
            anyConsistent = true;
            const hits: Target<R>[] = [];
            edge.index.lookup(leaf.value, hits);
            const membership = merge(chosen, leaf.membership);
            for (const t of hits) {
              // Leaves that add no array position lead to the same place; explore that once.
              if (membership === chosen) {
                if (seenPlain.has(t)) continue;
                seenPlain.add(t);
              }
              next.push({ target: t, membership });
            }
          }
          for (const n of next) visit(n.target.next, n.membership);
        }
        if (!anyConsistent) for (const t of edge.absenceTargets) visit(t.next, chosen);
      }
    };

    visit(this.root, null);
    return [...found];
  }
}
