import { consistent, merge, project, sameMembership, type Membership } from './event-leaves.js';
import { PathSlot, Resolved } from './path-slot.js';
import { compilePattern } from './parse-pattern.js';
import type { FieldCondition, LeafValue } from './types.js';
import { ValueIndex } from './value-index.js';
import { sameWalk, splitBranch, WalkPlanner } from './walk-order.js';

/*
 * All rules share one automaton, in the manner of AWS's event-ruler. A rule branch is a list of
 * field conditions in an order chosen when the rule is added (walkOrder); each condition is an edge (path) plus a target (the exact
 * set of alternatives) leading to the next state, and equal prefixes of different rules share
 * states. Matching walks from the root: at each state, for each path leaving it, the event's leaves
 * at that path are looked up in one ValueIndex, and only the states reached are explored. Cost
 * grows with the event's fields and the rules that actually match, not with the number of rules.
 */

interface RuleRecord<R extends string> {
  readonly id: R;
  mark: number;
  /** The rule has one branch, so it ends in one state only. */
  readonly oneBranch: boolean;
}

// Fields in order of use on the hot path (V8 lays objects out in declaration order): a visit
// mostly reads the first few, which share one cache line.
interface State<R extends string> {
  /**
   * The only rule ending here, or null when none or several do (then read `terminals`). Most
   * states end exactly one rule; reading it from the state saves two dependent loads per match.
   */
  sole: RuleRecord<R> | null;
  /** terminals.length, kept here so a state ending no rule is passed without loading its array. */
  ending: number;
  /** edgeList.length: a state with no edges (most targets lead to one) needs nothing more. */
  edgeCount: number;
  /**
   * The edges for the hot path as one flat array, [slot id, index, slot id, index, ...]: reading a
   * slot id and an index straight from it avoids loading each edge object (matching is bound by
   * memory loads, not arithmetic).
   */
  edgeSteps: (number | ValueIndex<Target<R>>)[];
  edgeList: Edge<R>[];
  /** One entry per branch ending here (a rule may end here through several branches). */
  readonly terminals: RuleRecord<R>[];
  /** Null until the first edge: most states end a rule and never get one. */
  edges: Map<string, Edge<R>> | null;
  /** Paths of every edge below this state, valid while `subtreeVersion` equals the matcher's version. */
  subtreePaths: string[];
  subtreeVersion: number;
  /** The target leading here (null for the root): its `leaf` mirrors this state's sole rule. */
  via: Target<R> | null;
}

interface Edge<R extends string> {
  readonly path: string;
  readonly slot: PathSlot;
  readonly targets: Map<string, Target<R>>;
  readonly index: ValueIndex<Target<R>>;
  readonly absenceTargets: Target<R>[];
}

interface Target<R extends string> {
  /**
   * `leaf.id` when that rule has one branch: it ends in that one state, which a walk through no
   * array reaches at most once, so the id needs no dedupe mark and the rule record is not loaded.
   */
  leafId: R | null;
  /**
   * The rule reached, when `next` ends exactly one rule and has no edges (most targets): the match
   * is collected from the target alone, without loading the next state. Null otherwise.
   */
  leaf: RuleRecord<R> | null;
  readonly next: State<R>;
  mark: number;
  refs: number;
  readonly field: FieldCondition;
}

const SINGLE = Resolved.Single;
const MANY = Resolved.Many;

function newState<R extends string>(): State<R> {
  // The edge arrays are only ever replaced, never mutated, so states without edges can share empties.
  return {
    sole: null,
    ending: 0,
    edgeCount: 0,
    edgeSteps: NO_STEPS,
    edgeList: NO_EDGES,
    terminals: [],
    edges: null,
    subtreePaths: NO_PATHS,
    subtreeVersion: -1,
    via: null,
  };
}

const NO_EDGES: never[] = [];
const NO_STEPS: never[] = [];
const NO_PATHS: string[] = [];

/** Recomputes what the hot path reads instead of the state's edge map and terminals list. */
function settle<R extends string>(state: State<R>): void {
  if (state.edges === null || state.edges.size === 0) {
    state.edges = null;
    state.edgeList = NO_EDGES;
    state.edgeSteps = NO_STEPS;
    state.edgeCount = 0;
  } else {
    state.edgeList = [...state.edges.values()];
    state.edgeSteps = state.edgeList.flatMap((e) => [e.slot.id, e.index]);
    state.edgeCount = state.edgeList.length;
  }
  state.ending = state.terminals.length;
  state.sole = state.ending === 1 ? (state.terminals[0] as RuleRecord<R>) : null;
  if (state.via !== null) {
    const leaf = state.edgeCount === 0 ? state.sole : null;
    state.via.leaf = leaf;
    state.via.leafId = leaf !== null && leaf.oneBranch ? leaf.id : null;
  }
}

export class RuleMatcher<R extends string = string> {
  private readonly root: State<R> = newState();
  /** Per rule: its branches, alternatives split (splitBranch) and fields in walk order, as inserted. */
  private readonly rules = new Map<R, { record: RuleRecord<R>; branches: FieldCondition[][] }>();
  private readonly slots = new Map<string, PathSlot>();
  private readonly planner = new WalkPlanner<R>();
  // Per path id, what it resolved to in the current event; compact arrays so a state's edges hit one cache line.
  private readonly slotById: PathSlot[] = [];
  private readonly slotGeneration: number[] = [];
  private readonly slotKind: number[] = [];
  private readonly slotSingle: LeafValue[] = [];
  private generation = 0;
  /** Bumped on every structural change; invalidates each state's cached subtree paths. */
  private version = 0;
  private found: R[] = [];
  /** How many array fields (visitLeaves) the walk is below; states there may be reached repeatedly. */
  private arrayDepth = 0;
  private event: unknown = undefined;
  // One stack shared by all depths: each lookup writes its hits above those still being explored.
  private readonly stack: Target<R>[] = [];
  private top = 0;

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
    const split = compiled.branches.flatMap(splitBranch);
    const shifted = this.planner.count(ruleId, split, 1);
    const branches = this.planner.order(split);
    const record: RuleRecord<R> = { id: ruleId, mark: 0, oneBranch: branches.length === 1 };
    for (const branch of branches) this.insert(record, branch);
    this.rules.set(ruleId, { record, branches });
    this.reorder(shifted);
  }

  /** Removes a rule; returns false when no rule had that id. */
  remove(ruleId: R): boolean {
    const rule = this.rules.get(ruleId);
    if (rule === undefined) return false;
    for (const branch of rule.branches) this.erase(rule.record, branch);
    this.rules.delete(ruleId);
    this.reorder(this.planner.count(ruleId, rule.branches, -1));
    return true;
  }

  /** Re-walks the rules on paths whose spread changed magnitude, where their walk order changed. */
  private reorder(paths: readonly string[]): void {
    for (const path of paths) {
      for (const id of this.planner.rulesOn(path)) {
        const rule = this.rules.get(id);
        if (rule === undefined) continue;
        const branches = this.planner.order(rule.branches);
        if (sameWalk(branches, rule.branches)) continue;
        for (const branch of rule.branches) this.erase(rule.record, branch);
        for (const branch of branches) this.insert(rule.record, branch);
        rule.branches = branches;
      }
    }
  }

  private slotFor(field: FieldCondition): PathSlot {
    let slot = this.slots.get(field.path);
    if (slot === undefined) {
      slot = new PathSlot(field.segments, this.slotById.length);
      this.slots.set(field.path, slot);
      this.slotById.push(slot);
      this.slotGeneration.push(-1);
      this.slotKind.push(0);
      this.slotSingle.push(null);
    }
    return slot;
  }

  private insert(record: RuleRecord<R>, branch: readonly FieldCondition[]): void {
    this.version++;
    let state = this.root;
    for (const field of branch) {
      let edge = state.edges?.get(field.path);
      if (edge === undefined) {
        edge = { path: field.path, slot: this.slotFor(field), targets: new Map(), index: new ValueIndex(), absenceTargets: [] };
        (state.edges ??= new Map()).set(field.path, edge);
        settle(state);
      }
      let target = edge.targets.get(field.key);
      if (target === undefined) {
        target = { leafId: null, leaf: null, next: newState(), mark: 0, refs: 0, field };
        target.next.via = target;
        edge.targets.set(field.key, target);
        for (const m of field.matchers) edge.index.add(m, target);
        if (field.allowsAbsence) edge.absenceTargets.push(target);
      }
      target.refs++;
      state = target.next;
    }
    state.terminals.push(record);
    settle(state);
  }

  private erase(record: RuleRecord<R>, branch: readonly FieldCondition[]): void {
    this.version++;
    const steps: { state: State<R>; edge: Edge<R>; target: Target<R> }[] = [];
    let state = this.root;
    for (const field of branch) {
      const edge = state.edges?.get(field.path);
      const target = edge?.targets.get(field.key);
      if (edge === undefined || target === undefined) return;
      steps.push({ state, edge, target });
      target.refs--;
      state = target.next;
    }
    const at = state.terminals.indexOf(record);
    if (at !== -1) state.terminals.splice(at, 1);
    settle(state);
    for (let i = steps.length - 1; i >= 0; i--) {
      const step = steps[i];
      if (step === undefined || step.target.refs > 0) continue;
      step.edge.targets.delete(step.target.field.key);
      step.edge.index.removeTarget(step.target);
      const absent = step.edge.absenceTargets.indexOf(step.target);
      if (absent !== -1) step.edge.absenceTargets.splice(absent, 1);
      if (step.edge.targets.size === 0) {
        step.state.edges?.delete(step.edge.path);
        settle(step.state);
      }
    }
  }

  /** Ids of all rules the event matches, each once, in no particular order. */
  match(event: unknown): R[] {
    // Paths not yet resolved for this event carry an older generation; marks dedupe rule ids.
    // Everything below is reset at the start of each call, so a throw part-way leaves nothing stale.
    this.generation++;
    this.event = event;
    const found: R[] = [];
    this.found = found;
    this.top = 0;
    this.arrayDepth = 0;
    this.visit(this.root, null, 0);
    this.event = undefined; // do not keep the caller's event alive
    return found;
  }

  /** Adds the rule to this match's results unless this match already has it. */
  private report(record: RuleRecord<R>, generation: number): void {
    if (record.mark !== generation) {
      record.mark = generation;
      this.found.push(record.id);
    }
  }

  private collect(state: State<R>, generation: number): void {
    const sole = state.sole;
    if (sole !== null) {
      this.report(sole, generation);
      return;
    }
    const terminals = state.terminals;
    for (let i = 0; i < terminals.length; i++) this.report(terminals[i] as RuleRecord<R>, generation);
  }

  private visit(state: State<R>, chosen: Membership | null, depth: number): void {
    const generation = this.generation;
    if (state.ending > 0) this.collect(state, generation);
    const steps = state.edgeSteps;
    const slotGeneration = this.slotGeneration;
    for (let e = 0, s = 0; s < steps.length; e++, s += 2) {
      const id = steps[s] as number;
      let kind: number;
      if (slotGeneration[id] === generation) {
        kind = this.slotKind[id] as number;
      } else {
        const slot = this.slotById[id] as PathSlot;
        kind = slot.resolve(this.event);
        slotGeneration[id] = generation;
        this.slotKind[id] = kind;
        this.slotSingle[id] = slot.single;
      }
      if (kind === SINGLE) {
        const start = this.top;
        const end = (steps[s + 1] as ValueIndex<Target<R>>).lookup(this.slotSingle[id] as LeafValue, this.stack, start);
        this.top = end;
        for (let i = start; i < end; i++) {
          const target = this.stack[i] as Target<R>;
          // Most targets end one rule and lead nowhere else: collect those from the target alone.
          const leafId = target.leafId;
          if (leafId !== null && this.arrayDepth === 0) {
            this.found.push(leafId);
            continue;
          }
          const leaf = target.leaf;
          if (leaf !== null) {
            this.report(leaf, generation);
            continue;
          }
          const next = target.next;
          if (next.edgeCount === 0) this.collect(next, generation);
          else this.visit(next, chosen, depth + 1);
        }
        this.top = start;
      } else if (kind === MANY) {
        const edge = state.edgeList[e] as Edge<R>;
        this.visitLeaves(edge, edge.slot, chosen, depth);
      } else {
        const absent = (state.edgeList[e] as Edge<R>).absenceTargets;
        for (let i = 0; i < absent.length; i++) this.visit((absent[i] as Target<R>).next, chosen, depth + 1);
      }
    }
  }

  /** Paths that fields below this state test; only arrays on those paths still matter there. */
  private subtreePaths(state: State<R>): string[] {
    if (state.subtreeVersion !== this.version) {
      const paths = new Set<string>();
      for (const edge of state.edgeList) {
        paths.add(edge.path);
        for (const t of edge.targets.values()) for (const p of this.subtreePaths(t.next)) paths.add(p);
      }
      state.subtreePaths = [...paths];
      state.subtreeVersion = this.version;
    }
    return state.subtreePaths;
  }

  /** Leaves inside arrays: each must agree with the array positions already chosen. */
  private visitLeaves(edge: Edge<R>, slot: PathSlot, chosen: Membership | null, depth: number): void {
    const next: { target: Target<R>; membership: Membership | null }[] = [];
    const seen = new Map<Target<R>, (Membership | null)[]>();
    let anyConsistent = false;
    for (const leaf of slot.leaves) {
      if (!consistent(chosen, leaf.membership)) continue;
      anyConsistent = true;
      const hits: Target<R>[] = [];
      edge.index.lookup(leaf.value, hits, 0);
      if (hits.length === 0) continue;
      const merged = merge(chosen, leaf.membership);
      for (const t of hits) {
        // Choices that leave the same relevant array positions lead to the same place; go once.
        const membership = project(merged, this.subtreePaths(t.next));
        const tried = seen.get(t);
        if (tried === undefined) seen.set(t, [membership]);
        else if (tried.some((m) => sameMembership(m, membership))) continue;
        else tried.push(membership);
        next.push({ target: t, membership });
      }
    }
    this.arrayDepth++;
    for (const n of next) this.visit(n.target.next, n.membership, depth + 1);
    this.arrayDepth--;
    if (!anyConsistent) for (const t of edge.absenceTargets) this.visit(t.next, chosen, depth + 1);
  }
}
