import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { leavesAt } from './event-leaves.js';
import { PathSlot, Resolved } from './path-slot.js';
import type { LeafValue } from './types.js';

/*
 * PathSlot reads plain nested objects through a reader compiled per path and hands anything else
 * (arrays, keys that contain dots) to the general walk in event-leaves.ts. Whatever the event's
 * shape, it must find exactly the leaves the general walk finds.
 */

function resolved(slot: PathSlot, event: unknown): LeafValue[] {
  const kind = slot.resolve(event);
  if (kind === Resolved.Absent) return [];
  if (kind === Resolved.Single) return [slot.single];
  return slot.leaves.map((l) => l.value);
}

function walked(segments: readonly string[], event: unknown): LeafValue[] {
  return leavesAt(event, segments).map((l) => l.value);
}

const keys = ['a', 'b', 'c', 'a.b', 'b.c', 'a.b.c', 'constructor', 'toString', '__proto__', '0'];
const leaf = fc.oneof(fc.string({ maxLength: 3 }), fc.integer(), fc.boolean(), fc.constant(null));
const tree = fc.letrec((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leaf,
    fc.array(tie('node'), { maxLength: 3 }),
    fc.dictionary(fc.constantFrom(...keys), tie('node'), { maxKeys: 4 }),
  ),
})).node;
const path = fc.array(fc.constantFrom('a', 'b', 'c', 'constructor', 'toString', '0'), { minLength: 1, maxLength: 3 });

describe('finding a path in an event', () => {
  it('finds the same leaves as the general walk, for any event shape, with or without a compiled reader', () => {
    fc.assert(
      fc.property(path, tree, (segments, event) => {
        // Slot ids past the compiled-reader limit use the generic plain-object walk.
        for (const id of [0, 1_000_000]) expect(resolved(new PathSlot(segments, id), event)).toEqual(walked(segments, event));
      }),
      { numRuns: 2000 },
    );
  });

  it('when one slot reads events of different shapes in turn, each gets its own leaves', () => {
    const slot = new PathSlot(['data', 'state'], 0);
    expect(resolved(slot, { data: { state: 'open' } })).toEqual(['open']);
    expect(resolved(slot, { data: { state: 3, other: 1 } })).toEqual([3]);
    expect(resolved(slot, { 'data.state': 'dotted' })).toEqual(['dotted']);
    expect(resolved(slot, { data: [{ state: 'x' }, { state: 'y' }] })).toEqual(['x', 'y']);
    expect(resolved(slot, { data: { state: { nested: true } } })).toEqual([]);
    expect(resolved(slot, { data: null })).toEqual([]);
    expect(resolved(slot, 'not an object')).toEqual([]);
    expect(resolved(slot, { data: { state: null } })).toEqual([null]);
  });

  it('a name that every object inherits is found only when the event has it as its own key', () => {
    const slot = new PathSlot(['constructor'], 0);
    expect(resolved(slot, {})).toEqual([]);
    expect(resolved(slot, { constructor: 'mine' })).toEqual(['mine']);
  });
});
