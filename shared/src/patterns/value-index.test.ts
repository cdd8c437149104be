import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compilePattern } from './parse-pattern.js';
import type { LeafValue, ValueMatcher } from './types.js';
import { ValueIndex } from './value-index.js';
import { valueMatches } from './value-match.js';

/*
 * ValueIndex switches between lookup structures by how many conditions a table holds (scanned
 * lists for a few, tries and interval trees for many). The matcher property tests use a small
 * vocabulary, so they mostly meet the small forms; these tests build tables large enough for
 * every form and compare each lookup with valueMatches over every alternative.
 */

interface Target {
  readonly name: number;
  mark: number;
}

/** The compiled alternatives of one field, e.g. [{ prefix: 'dev-1' }, 'x']. */
function matchersOf(alternatives: unknown[]): readonly ValueMatcher[] {
  const field = compilePattern({ f: alternatives }).branches[0]?.[0];
  if (field === undefined) throw new Error('pattern compiled to no field');
  return field.matchers;
}

const words = ['dev-1', 'dev-12', 'dev-123', 'dev-2', 'dev-21', 'dev-3', 'dev-33', 'dev-4', 'dev-5', 'dev-55', 'de', '', 'x'];
const values: LeafValue[] = [...words, 'dev-1234', 'dev-2-x', 'DEV-12', 'dev-33-dev-1', 'zz-dev-1', 0, 1, 2.5, 3, 7, 10, 11, -4, 100, true, null];

const alternative = fc.oneof(
  fc.constantFrom(...words),
  fc.constantFrom(...words).map((prefix) => ({ prefix })),
  fc.constantFrom(...words).map((suffix) => ({ suffix })),
  fc.constantFrom(...words).filter((w) => w !== '').map((w) => ({ wildcard: `${w}*` })),
  fc.constantFrom(...words).filter((w) => w !== '').map((w) => ({ wildcard: `*${w}` })),
  fc.constantFrom(...words).filter((w) => w !== '').map((w) => ({ wildcard: `${w}*${w}` })),
  fc.constantFrom(...words).map((w) => ({ wildcard: w.replace('-', '\\*') })),
  fc.constantFrom(...words).map((w) => ({ 'equals-ignore-case': w })),
  fc.constantFrom(...words).filter((w) => w !== '').map((w) => ({ 'anything-but': { prefix: w } })),
  fc.constantFrom(...words).filter((w) => w !== '').map((w) => ({ 'anything-but': { suffix: w } })),
  fc.constantFrom(...words).map((w) => ({ 'anything-but': { 'equals-ignore-case': w.toUpperCase() } })),
  fc.constantFrom(...words).map((w) => ({ 'anything-but': w })),
  fc.integer({ min: -5, max: 12 }).map((n) => ({ 'anything-but': n })),
  fc.integer({ min: -5, max: 12 }),
  fc.tuple(fc.integer({ min: -5, max: 12 }), fc.integer({ min: 1, max: 6 })).map(([lo, w]) => ({ numeric: ['>=', lo, '<', lo + w] })),
  fc.integer({ min: -5, max: 12 }).map((n) => ({ numeric: ['>', n] })),
  fc.integer({ min: -5, max: 12 }).map((n) => ({ numeric: ['<=', n] })),
  fc.constant({ exists: true }),
);

/** Many fields' alternatives sharing one index, as many rules' conditions on one path do. */
const table = fc.array(fc.array(alternative, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 60 });

function expected(fields: readonly (readonly ValueMatcher[])[], value: LeafValue, removed: ReadonlySet<number>): number[] {
  const out: number[] = [];
  fields.forEach((ms, i) => {
    if (!removed.has(i) && ms.some((m) => valueMatches(m, value))) out.push(i);
  });
  return out;
}

function build(fields: readonly (readonly ValueMatcher[])[]): { index: ValueIndex<Target>; targets: Target[] } {
  const index = new ValueIndex<Target>();
  const targets = fields.map((_, name) => ({ name, mark: 0 }));
  fields.forEach((ms, i) => {
    for (const m of ms) index.add(m, targets[i] as Target);
  });
  return { index, targets };
}

function lookup(index: ValueIndex<Target>, value: LeafValue): number[] {
  const out: Target[] = [];
  const top = index.lookup(value, out, 0);
  return out.slice(0, top).map((t) => t.name).sort((a, b) => a - b);
}

describe('a value index with many conditions on one path', () => {
  it('finds exactly the conditions each value satisfies, each once', () => {
    fc.assert(
      fc.property(table, (alts) => {
        const fields = alts.map(matchersOf);
        const { index } = build(fields);
        for (const value of values) expect(lookup(index, value)).toEqual(expected(fields, value, new Set()));
      }),
      { numRuns: 300 },
    );
  });

  it('after conditions are removed, finds only the remaining ones', () => {
    fc.assert(
      fc.property(table, fc.array(fc.nat(59), { maxLength: 30 }), (alts, drop) => {
        const fields = alts.map(matchersOf);
        const { index, targets } = build(fields);
        lookup(index, 'dev-1'); // build the tables before the removals
        const removed = new Set(drop.filter((i) => i < fields.length));
        for (const i of removed) index.removeTarget(targets[i] as Target);
        for (const value of values) expect(lookup(index, value)).toEqual(expected(fields, value, removed));
      }),
      { numRuns: 200 },
    );
  });

  it('when twenty prefixes share a long head, a value gets every prefix it starts with and no other', () => {
    const fields = Array.from({ length: 20 }, (_, i) => matchersOf([{ prefix: `keyway://device/dev-${i}` }]));
    const { index } = build(fields);
    expect(lookup(index, 'keyway://device/dev-12')).toEqual([1, 12]);
    expect(lookup(index, 'keyway://device/dev-3x')).toEqual([3]);
    expect(lookup(index, 'keyway://device/')).toEqual([]);
  });

  it('when forty numeric ranges overlap, a number gets exactly the ranges holding it', () => {
    const fields = Array.from({ length: 40 }, (_, i) => matchersOf([{ numeric: ['>=', i, '<', i + 3] }]));
    const { index } = build(fields);
    expect(lookup(index, 10)).toEqual([8, 9, 10]);
    expect(lookup(index, 0.5)).toEqual([0]);
    expect(lookup(index, 'ten')).toEqual([]);
  });
});
