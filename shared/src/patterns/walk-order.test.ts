import { afterEach, describe, expect, it, vi } from 'vitest';
import { RuleMatcher, testPattern, type Pattern } from './index.js';
import { ValueIndex } from './value-index.js';
import { WalkPlanner } from './walk-order.js';

/*
 * How the automaton is laid out decides how many lookups an event costs, not which rules match
 * (the conformance and property tests check that). These tests count ValueIndex lookups per event
 * to pin the layout: values listed together are split so rules share the state behind each value,
 * and a path with many values is walked before one with few.
 */

const TYPES = Array.from({ length: 100 }, (_, i) => `keyway.device.Type${i}`);
const ROLES = ['courier', 'customer', 'manager', 'installer', 'support'];
const REASONS = ['manual', 'schedule', 'grant', 'courier', 'safety', 'remote', 'keypad', 'timeout'];

function event(type: string, role = 'courier', reason = 'grant'): Record<string, unknown> {
  return { type, data: { reason, actor: { role } } };
}

/** Lookups one match() of the event performs, and the ids it returns. */
function lookupsFor(matcher: RuleMatcher, e: unknown): { lookups: number; ids: string[] } {
  const spy = vi.spyOn(ValueIndex.prototype, 'lookup');
  try {
    const ids = matcher.match(e).sort();
    return { lookups: spy.mock.calls.length, ids };
  } finally {
    spy.mockRestore();
  }
}

afterEach(() => vi.restoreAllMocks());

describe('the automaton shares states between rules by value', () => {
  it('when 1,000 rules each list two of 100 types, an event visits the one state behind its type', () => {
    const matcher = new RuleMatcher();
    const rules = new Map<string, Pattern>();
    for (let i = 0; i < 1000; i++) {
      // "zone" sorts after "type", so even by path name alone the type is walked first.
      const pattern = { type: [TYPES[i % 100], TYPES[(i * 7 + 3) % 100]], zone: [`zone-${i % 8}`] };
      rules.set(`r${i}`, pattern);
      matcher.add(`r${i}`, pattern);
    }
    const e = { ...event(TYPES[42] as string), zone: 'zone-2' };
    const { lookups, ids } = lookupsFor(matcher, e);
    const expected = [...rules].filter(([, p]) => testPattern(p, e)).map(([id]) => id).sort();
    expect(expected.length).toBeGreaterThan(0);
    expect(ids).toEqual(expected);
    // type at the root, then zone in the one state behind this type (unsplit: one state per rule listing it, about 20).
    expect(lookups).toBe(2);
  });

  it('when rules test a type (100 values) and a role (5 values), the type is walked first', () => {
    const matcher = new RuleMatcher();
    for (let i = 0; i < 500; i++) matcher.add(`r${i}`, { type: [TYPES[i % 100]], data: { actor: { role: [ROLES[i % 5]] } } });
    // A type no rule lists: one lookup at the root and no further (role first would cost a lookup in a role state too).
    expect(lookupsFor(matcher, event('keyway.device.Unknown')).lookups).toBe(1);
    const hit = lookupsFor(matcher, event(TYPES[3] as string, ROLES[3]));
    expect(hit.ids).toEqual(['r103', 'r203', 'r3', 'r303', 'r403']);
    expect(hit.lookups).toBe(2);
  });

  it('when a rule lists the same value twice or matches through two of its values, its id is returned once', () => {
    const matcher = new RuleMatcher();
    matcher.add('tags', { data: { tags: ['north', 'south', 'north'] } });
    expect(matcher.match({ data: { tags: ['north', 'south'] } })).toEqual(['tags']);
  });

  it('when a rule lists many values on several fields, it still matches exactly what testPattern matches', () => {
    // 5 x 5 x 5 = 125 combinations, more than one rule may be split into: some fields stay whole.
    const pattern = { a: [1, 2, 3, 4, 5], b: ['p', 'q', 'r', 's', 't'], c: [true, false, null, 'x', 'y'] };
    const matcher = new RuleMatcher();
    matcher.add('wide', pattern);
    for (const a of [1, 5, 6]) {
      for (const b of ['p', 't', 'u']) {
        for (const c of [true, null, 'y', 'z']) {
          const e = { a, b, c };
          expect(matcher.match(e).length === 1, JSON.stringify(e)).toBe(testPattern(pattern, e));
        }
      }
    }
  });

  it('when split rules are removed, nothing of them is left to walk and re-adding them works', () => {
    const matcher = new RuleMatcher();
    for (let i = 0; i < 50; i++) matcher.add(`r${i}`, { type: [TYPES[i], TYPES[i + 1]], data: { reason: [REASONS[i % 8], 'manual'] } });
    expect(lookupsFor(matcher, event(TYPES[10] as string, 'courier', 'manual')).ids).toEqual(['r10', 'r9']);
    for (let i = 0; i < 50; i++) expect(matcher.remove(`r${i}`)).toBe(true);
    expect(lookupsFor(matcher, event(TYPES[10] as string, 'courier', 'manual'))).toEqual({ lookups: 0, ids: [] });
    matcher.add('again', { type: [TYPES[10], TYPES[11]], data: { reason: ['manual'] } });
    expect(lookupsFor(matcher, event(TYPES[11] as string, 'courier', 'manual')).ids).toEqual(['again']);
  });

  it('when the values on a path hover at a power of two, adding and removing one rule re-walks no other rule', () => {
    const matcher = new RuleMatcher();
    // 127 distinct types over 1,000 rules; a rule on a 128th type then comes and goes, repeatedly.
    for (let i = 0; i < 1000; i++) matcher.add(`r${i}`, { type: [`t${i % 127}`], zone: [`z${i % 3}`] });
    matcher.add('extra', { type: ['t127'], zone: ['z1'] });
    const order = vi.spyOn(WalkPlanner.prototype, 'order');
    for (let round = 0; round < 10; round++) {
      matcher.remove('extra');
      matcher.add('extra', { type: ['t127'], zone: ['z1'] });
    }
    // Each add orders its own rule once; re-walking the rules on the path would order about 1,000 each time.
    expect(order.mock.calls.length).toBe(10);
    expect(matcher.match({ type: 't127', zone: 'z1' })).toEqual(['extra']);
  });

  it('when other rules make a field that allows absence more varied, it is still decided in path order, as testPattern does', () => {
    // Found by the property test with more runs: rows.z ordered before rows.w.v (more conditions on it) chose
    // the first array element, after which rows.w.v, present only in the second, counted as absent.
    const first = { rows: { z: [false, { exists: false }], w: { v: [{ exists: false }, { suffix: 'BAR' }] } }, a: [{ 'anything-but': { prefix: 'fo' } }] };
    const second = { rows: { z: [{ 'anything-but': ['foo', 'bar'] }] }, a: [null] };
    const e = { a: 0, rows: [{ z: false }, { w: [{ v: false }] }] };
    const matcher = new RuleMatcher();
    matcher.add('first', first);
    matcher.add('second', second);
    expect(testPattern(first, e)).toBe(false);
    expect(matcher.match(e)).toEqual([]);
  });
});
