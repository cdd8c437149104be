import { consistent, leavesAt, merge, project, sameMembership, type Leaf, type Membership } from './event-leaves.js';
import { compilePattern } from './parse-pattern.js';
import type { Branch, CompiledPattern, FieldCondition } from './types.js';
import { valueMatches } from './value-match.js';

/*
 * The straightforward interpreter: for each branch, search for one leaf per field such that all
 * chosen leaves agree on their array positions; fields that allow absence are satisfied when no leaf
 * at their path agrees with the chosen ones. Slow but plainly correct; testPattern uses it and
 * the property tests hold the compiled RuleMatcher to it.
 *
 * Order matters only for fields that allow absence (exists:false, alone or with other values):
 * they are decided after every other field, in path order, each against the array positions
 * chosen so far. The compiled matcher uses the same order.
 */

function fieldOrder(f: FieldCondition): number {
  if (!f.allowsAbsence) return 0;
  return f.hasValueMatchers ? 1 : 2;
}

function branchMatches(branch: Branch, event: unknown): boolean {
  const fields = [...branch].sort(
    (a, b) => fieldOrder(a) - fieldOrder(b) || (fieldOrder(a) === 0 ? 0 : a.path < b.path ? -1 : a.path > b.path ? 1 : 0),
  );
  const leaves: Leaf[][] = fields.map((f) => leavesAt(event, f.segments));
  // remaining[i]: paths of fields i.. (array positions outside them no longer matter).
  const remaining = fields.map((_, i) => fields.slice(i).map((f) => f.path));
  const search = (i: number, m: Membership | null): boolean => {
    if (i === fields.length) return true;
    const field = fields[i];
    const atPath = leaves[i];
    if (field === undefined || atPath === undefined) return false;
    const tried: (Membership | null)[] = [];
    for (const leaf of atPath) {
      if (!consistent(m, leaf.membership)) continue;
      if (!field.matchers.some((x) => valueMatches(x, leaf.value))) continue;
      const next = project(merge(m, leaf.membership), remaining[i + 1] ?? []);
      // Choices that leave the same relevant array positions lead to the same search; try each once.
      if (tried.some((t) => sameMembership(t, next))) continue;
      tried.push(next);
      if (search(i + 1, next)) return true;
    }
    if (field.allowsAbsence && !atPath.some((leaf) => consistent(m, leaf.membership))) return search(i + 1, project(m, remaining[i + 1] ?? []));
    return false;
  };
  return search(0, null);
}

export function compiledMatches(compiled: CompiledPattern, event: unknown): boolean {
  return compiled.branches.some((b) => branchMatches(b, event));
}

/**
 * EventBridge's TestEventPattern: whether the event matches the pattern.
 * The pattern is JSON text or an object (invalid ones throw INVALID_PATTERN); the event is an
 * object, or JSON text which is parsed first.
 */
export function testPattern(pattern: unknown, event: unknown): boolean {
  const compiled = compilePattern(pattern);
  const parsed: unknown = typeof event === 'string' ? JSON.parse(event) : event;
  return compiledMatches(compiled, parsed);
}
