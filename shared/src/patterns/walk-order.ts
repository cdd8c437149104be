import { splitAlternatives } from './parse-pattern.js';
import type { FieldCondition, ValueMatcher } from './types.js';

/*
 * The order in which a rule's fields become automaton edges decides how many states an event
 * visits, never which rules it matches. Cheap, selective kinds of condition go first; among
 * equals, the path whose conditions are most varied across all rules (it splits them most
 * finely); and values listed together are split so that rules share the state behind each value.
 */

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

/**
 * Most branches one branch may become by splitting its fields' alternatives: a rule whose fields
 * list many values each keeps the rest of them as one shared condition.
 */
const SPLIT_LIMIT = 16;

/**
 * The branch with its equality fields split into one branch per value (`type: ["a", "b"]` into a
 * branch with `type: ["a"]` and one with `type: ["b"]`), fields with the fewest values first,
 * while the branches number at most SPLIT_LIMIT. Unsplit, a rule listing two types gets a state
 * of its own behind each of them; split, it joins the state every rule on that one type shares,
 * so an event visits one state per value it carries, not one per rule that lists that value.
 */
export function splitBranch(branch: readonly FieldCondition[]): FieldCondition[][] {
  let branches: FieldCondition[][] = [[]];
  const bySize = branch.map((field) => ({ field, parts: splitAlternatives(field) })).sort((a, b) => a.parts.length - b.parts.length);
  for (const { field, parts } of bySize) {
    const options = branches.length * parts.length <= SPLIT_LIMIT ? parts : [field];
    branches = branches.flatMap((b) => options.map((o) => [...b, o]));
  }
  return branches;
}

/** floor(log2(n)) for n >= 1. */
function log2(n: number): number {
  return 31 - Math.clz32(n);
}

/**
 * The magnitude a path's spread of n is ordered by, given the one it had: floor(log2(n)) once n
 * reaches the next power of two or falls below 3/4 of the current one, else unchanged. The gap
 * means a spread hovering at a power of two (one rule added, removed, added) does not re-walk
 * every rule on the path each time.
 */
function nextMagnitude(current: number, n: number): number {
  if (n >= 2 ** (current + 1) || n < 0.75 * 2 ** current) return log2(n);
  return current;
}

/**
 * Keeps, per path, how many branches use each distinct condition on it, and orders branches by
 * it. Orders follow the magnitude of that spread, so they change only when a path's spread
 * doubles or shrinks by a quarter or more (nextMagnitude); the caller then re-walks the rules on the paths it reports (rulesOn), which
 * adds up to a few passes over the rules in all as a rule set grows.
 */
export class WalkPlanner<R> {
  private readonly spread = new Map<string, Map<string, number>>();
  /** Per path, the magnitude its fields are ordered by (nextMagnitude). */
  private readonly magnitudes = new Map<string, number>();
  private readonly rulesByPath = new Map<string, Set<R>>();

  /** Counts (delta 1) or uncounts (-1) a rule's split branches; returns the paths whose magnitude changed. */
  count(ruleId: R, branches: readonly (readonly FieldCondition[])[], delta: 1 | -1): string[] {
    const shifted = new Set<string>();
    for (const branch of branches) {
      for (const field of branch) {
        let conditions = this.spread.get(field.path);
        if (conditions === undefined) this.spread.set(field.path, (conditions = new Map<string, number>()));
        const n = (conditions.get(field.key) ?? 0) + delta;
        if (n > 0) conditions.set(field.key, n);
        else conditions.delete(field.key);
        const before = this.magnitudes.get(field.path);
        if (conditions.size === 0) {
          // No rule left on the path: nothing to re-walk, and a path used again starts afresh.
          this.spread.delete(field.path);
          this.magnitudes.delete(field.path);
        } else {
          const after = before === undefined ? log2(conditions.size) : nextMagnitude(before, conditions.size);
          this.magnitudes.set(field.path, after);
          if (before !== undefined && after !== before) shifted.add(field.path);
        }
      }
    }
    for (const path of new Set(branches.flat().map((f) => f.path))) {
      let rules = this.rulesByPath.get(path);
      if (delta === 1) {
        if (rules === undefined) this.rulesByPath.set(path, (rules = new Set<R>()));
        rules.add(ruleId);
      } else if (rules !== undefined) {
        rules.delete(ruleId);
        if (rules.size === 0) this.rulesByPath.delete(path);
      }
    }
    return [...shifted];
  }

  /** Ids of the rules with a field on the path. */
  rulesOn(path: string): ReadonlySet<R> {
    return this.rulesByPath.get(path) ?? new Set();
  }

  /**
   * Each branch's fields in walk order: by kind of condition (matcherRank), then the path whose
   * spread is of the greater magnitude (`type` with hundreds of values before a `role` with five:
   * a walk starting on a coarse path visits a state for nearly every event), then path name. Fields
   * allowing absence (exists: false) come last in path order, whatever their spread. A branch holds
   * each path once, so the order does not depend on the order fields come in.
   */
  order(branches: readonly (readonly FieldCondition[])[]): FieldCondition[][] {
    const spreadOf = (path: string): number => this.magnitudes.get(path) ?? -1;
    return branches.map((fields) =>
      fields
        // Fields allowing absence keep path order: with arrays, what they match depends on the array
        // positions chosen before them, and testPattern's reference interpreter decides them in path order.
        .map((f) => ({ f, rank: fieldRank(f), spread: f.allowsAbsence ? 0 : spreadOf(f.path) }))
        .sort((a, b) => a.rank - b.rank || b.spread - a.spread || (a.f.path < b.f.path ? -1 : a.f.path > b.f.path ? 1 : 0))
        .map((x) => x.f),
    );
  }
}

/** Whether two lists of branches hold the same conditions in the same order. */
export function sameWalk(a: readonly (readonly FieldCondition[])[], b: readonly (readonly FieldCondition[])[]): boolean {
  return a.length === b.length && a.every((branch, i) => {
    const other = b[i] as readonly FieldCondition[];
    return branch.length === other.length && branch.every((f, j) => f === other[j]);
  });
}
