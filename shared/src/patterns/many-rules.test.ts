import { describe, expect, it } from 'vitest';
import { RuleMatcher, testPattern, type Pattern } from './index.js';
import { pick, seededRandom } from './test-support/seeded-random.js';

/*
 * The property tests use a small vocabulary, so each lookup table holds a few conditions. Here a
 * few thousand rules of a realistic mix share the automaton, so tables grow past the sizes where
 * ValueIndex switches form (tries, interval trees, exclusion tables), and the compiled matcher
 * must still agree with the reference interpreter, before and after rules come and go.
 */

const TYPES = ['door.Opened', 'door.Closed', 'door.Fault', 'grant.Issued', 'grant.Revoked', 'relay.Fired'];
const STATES = ['open', 'closed', 'opening', 'fault'];
const REASONS = ['manual', 'schedule', 'grant', 'courier', 'safety'];

function makeRule(r: () => number, i: number): Pattern {
  const type = pick(r, TYPES);
  const n = Math.floor(r() * 60);
  switch (i % 10) {
    case 0:
      return { type: [type], data: { state: [pick(r, STATES)] } };
    case 1:
      return { type: [type], source: [{ prefix: `dev-${n}` }] };
    case 2:
      return { data: { battery: [{ numeric: ['>=', n, '<', n + 1 + Math.floor(r() * 15)] }] } };
    case 3:
      return { type: [type], data: { reason: [{ 'anything-but': [pick(r, REASONS), pick(r, REASONS)] }] } };
    case 4:
      return { type: [type], data: { firmware: [{ 'anything-but': { prefix: `2.${n % 9}.` } }] } };
    case 5:
      return { subject: [{ wildcard: `site-${n}-door-*` }, { suffix: `-${n % 7}` }] };
    case 6:
      return { source: [{ 'anything-but': { suffix: `${n % 10}` } }], data: { reason: [{ 'equals-ignore-case': pick(r, REASONS).toUpperCase() }] } };
    case 7:
      return { data: { tags: [pick(r, ['north', 'south', 'east']), { prefix: `zone-${n % 12}` }] } };
    case 8:
      return { $or: [{ data: { state: [pick(r, STATES)] } }, { data: { battery: [{ numeric: ['<', n] }] } }] };
    default:
      return { data: { actor: { role: [{ exists: r() < 0.5 }] } }, type: [type] };
  }
}

function makeEvent(r: () => number): Record<string, unknown> {
  const device = Math.floor(r() * 600);
  const site = Math.floor(r() * 60);
  return {
    type: pick(r, TYPES),
    source: `dev-${device}`,
    subject: `site-${site}-door-${device % 7}`,
    data: {
      state: pick(r, STATES),
      reason: r() < 0.5 ? pick(r, REASONS) : pick(r, REASONS).toUpperCase(),
      battery: Math.floor(r() * 80),
      firmware: `2.${Math.floor(r() * 9)}.${Math.floor(r() * 5)}`,
      tags: ['garage', pick(r, ['north', 'south']), `zone-${site % 12}`],
      ...(r() < 0.5 ? { actor: { role: 'courier' } } : {}),
    },
  };
}

function expected(rules: ReadonlyMap<string, Pattern>, event: unknown): string[] {
  return [...rules].filter(([, p]) => testPattern(p, event)).map(([id]) => id).sort();
}

describe('a matcher holding thousands of rules', () => {
  it('returns exactly the rules the reference interpreter matches, before and after half are removed or replaced', () => {
    const r = seededRandom(11);
    const rules = new Map<string, Pattern>();
    const matcher = new RuleMatcher();
    for (let i = 0; i < 3000; i++) {
      const p = makeRule(r, i);
      rules.set(`rule-${i}`, p);
      matcher.add(`rule-${i}`, p);
    }
    const events = Array.from({ length: 40 }, () => makeEvent(r));
    let matched = 0;
    for (const e of events) {
      const want = expected(rules, e);
      matched += want.length;
      expect([...matcher.match(e)].sort()).toEqual(want);
    }
    expect(matched).toBeGreaterThan(events.length * 10); // the events really meet the rules

    for (let i = 0; i < 3000; i += 2) {
      if (i % 4 === 0) {
        expect(matcher.remove(`rule-${i}`)).toBe(true);
        rules.delete(`rule-${i}`);
      } else {
        const p = makeRule(r, i + 1);
        matcher.add(`rule-${i}`, p);
        rules.set(`rule-${i}`, p);
      }
    }
    expect(matcher.size).toBe(rules.size);
    for (const e of events) expect([...matcher.match(e)].sort()).toEqual(expected(rules, e));
  });
});
