import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RuleMatcher, testPattern } from './index.js';

/*
 * The compiled RuleMatcher (shared automaton, lookup tables) must decide exactly as the plain
 * reference interpreter behind testPattern, for any mix of rules, including after removals.
 * Values come from a small vocabulary so that random patterns and events actually meet.
 */

const strings = ['', 'foo', 'Foo', 'bar', 'foobar', 'fo*o', '10.0.0.1', '10.0.1.5', '2001:db8::1'];
const numbers = [0, 1, 5, 5.5, -3, 100];
const leafValue = fc.oneof(fc.constantFrom(...strings), fc.constantFrom(...numbers), fc.boolean(), fc.constant(null));
const eventValue = fc.oneof(
  { weight: 4, arbitrary: leafValue },
  { weight: 1, arbitrary: fc.array(leafValue, { maxLength: 3 }) },
);

const alternative = fc.oneof(
  fc.constantFrom(...strings),
  fc.constantFrom(...numbers),
  fc.boolean(),
  fc.constant(null),
  fc.constantFrom('fo', 'b', '', 'FO').map((prefix) => ({ prefix })),
  fc.constantFrom('o', 'bar', 'R').map((suffix) => ({ suffix })),
  fc.constantFrom('fo', 'F').map((p) => ({ prefix: { 'equals-ignore-case': p } })),
  fc.constantFrom('BAR', 'o').map((s) => ({ suffix: { 'equals-ignore-case': s } })),
  fc.constantFrom('FOO', 'bar').map((v) => ({ 'equals-ignore-case': v })),
  fc.constantFrom('f*', '*o*', '*', 'fo\\*o', '*bar').map((wildcard) => ({ wildcard })),
  fc.constantFrom<unknown[]>(['>', 0], ['>=', 5], ['<', 5], ['<=', 0], ['=', 5.5], ['>', -5, '<=', 1], ['>=', 1, '<', 100]).map((numeric) => ({ numeric })),
  fc.boolean().map((exists) => ({ exists })),
  fc.oneof(fc.constantFrom(...strings), fc.constantFrom(...numbers), fc.constant(['foo', 'bar']), fc.constant([0, 5])).map((v) => ({ 'anything-but': v })),
  fc.constantFrom('fo', 'b').map((prefix) => ({ 'anything-but': { prefix } })),
  fc.constantFrom('o', 'ar').map((suffix) => ({ 'anything-but': { suffix } })),
  fc.constantFrom('FOO', 'Bar').map((v) => ({ 'anything-but': { 'equals-ignore-case': [v] } })),
  fc.constantFrom('f*', '*r').map((wildcard) => ({ 'anything-but': { wildcard } })),
  fc.constantFrom('10.0.0.0/24', '10.0.0.0/8', '2001:db8::/32').map((cidr) => ({ cidr })),
);

const alternatives = fc.array(alternative, { minLength: 1, maxLength: 3 });

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const [head, ...rest] = path.split('.');
  if (head === undefined) return;
  if (rest.length === 0) {
    target[head] = value;
    return;
  }
  const child = (target[head] ??= {}) as Record<string, unknown>;
  setPath(child, rest.join('.'), value);
}

const fieldPaths = ['a', 'b', 'c.d', 'c.e', 'items.x', 'items.y', 'rows.z', 'rows.w.v'];

const conditions = fc.uniqueArray(fc.tuple(fc.constantFrom(...fieldPaths), alternatives), {
  minLength: 1,
  maxLength: 3,
  selector: ([p]) => p,
});

function toPattern(fields: [string, unknown[]][]): Record<string, unknown> {
  const pattern: Record<string, unknown> = {};
  for (const [path, alts] of fields) setPath(pattern, path, alts);
  return pattern;
}

const pattern = fc.oneof(
  { weight: 3, arbitrary: conditions.map(toPattern) },
  {
    weight: 1,
    arbitrary: fc.tuple(conditions, conditions, fc.option(conditions)).map(([left, right, outside]) => {
      const base = outside === null ? {} : toPattern(outside.filter(([p]) => p !== 'a' && p !== 'b'));
      return { ...base, $or: [toPattern(left), toPattern(right)] };
    }),
  },
);

const event = fc
  .record({
    a: eventValue,
    b: eventValue,
    c: fc.record({ d: eventValue, e: eventValue }, { requiredKeys: [] }),
    items: fc.array(fc.record({ x: eventValue, y: eventValue }, { requiredKeys: [] }), { maxLength: 3 }),
    rows: fc.array(
      fc.record({ z: eventValue, w: fc.array(fc.record({ v: eventValue }, { requiredKeys: [] }), { maxLength: 2 }) }, { requiredKeys: [] }),
      { maxLength: 3 },
    ),
  }, { requiredKeys: [] });

// Thousands of runs take seconds alone and several times that on a loaded CI machine.
describe('RuleMatcher agrees with the reference interpreter', () => {
  it('for random sets of rules and random events, the matched ids are those testPattern accepts', { timeout: 60_000 }, () => {
    fc.assert(
      fc.property(fc.array(pattern, { minLength: 1, maxLength: 25 }), fc.array(event, { minLength: 1, maxLength: 8 }), (patterns, events) => {
        const matcher = new RuleMatcher();
        patterns.forEach((p, i) => matcher.add(`r${i}`, p));
        for (const e of events) {
          const expected = patterns.flatMap((p, i) => (testPattern(p, e) ? [`r${i}`] : [])).sort();
          expect(matcher.match(e).sort()).toEqual(expected);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('after random removals and replacements, the matcher still agrees', { timeout: 60_000 }, () => {
    fc.assert(
      fc.property(
        fc.array(pattern, { minLength: 2, maxLength: 20 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        fc.array(pattern, { maxLength: 5 }),
        fc.array(event, { minLength: 1, maxLength: 5 }),
        (patterns, removals, replacements, events) => {
          const matcher = new RuleMatcher();
          const live = new Map<string, unknown>();
          patterns.forEach((p, i) => {
            matcher.add(`r${i}`, p);
            live.set(`r${i}`, p);
          });
          for (const n of removals) {
            const id = `r${n % patterns.length}`;
            expect(matcher.remove(id)).toBe(live.delete(id));
          }
          replacements.forEach((p, i) => {
            const id = `r${i % patterns.length}`;
            matcher.add(id, p);
            live.set(id, p);
          });
          expect(matcher.size).toBe(live.size);
          for (const e of events) {
            const expected = [...live].flatMap(([id, p]) => (testPattern(p, e) ? [id] : [])).sort();
            expect(matcher.match(e).sort()).toEqual(expected);
          }
        },
      ),
      { numRuns: 1000 },
    );
  });
});

describe('lookup tables with many overlapping affixes', () => {
  it('when hundreds of prefix, suffix and wildcard rules share heads and tails, each value matches exactly the rules testPattern accepts', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom('prefix', 'suffix', 'wildcard', 'pi', 'si'), fc.stringMatching(/^[ab]{0,4}$/)), { minLength: 1, maxLength: 120 }),
        fc.array(fc.stringMatching(/^[abAB]{0,6}$/), { minLength: 1, maxLength: 30 }),
        (specs, values) => {
          const patterns = specs.map(([op, text]) => {
            switch (op) {
              case 'prefix':
                return { k: [{ prefix: `dev-${text}` }] };
              case 'suffix':
                return { k: [{ suffix: `${text}-x` }] };
              case 'pi':
                return { k: [{ prefix: { 'equals-ignore-case': `DEV-${text}` } }] };
              case 'si':
                return { k: [{ suffix: { 'equals-ignore-case': `${text}-X` } }] };
              default:
                return { k: [{ wildcard: `dev-${text}*${text}-x` }] };
            }
          });
          const matcher = new RuleMatcher();
          patterns.forEach((p, i) => matcher.add(`r${i}`, p));
          for (const v of values) {
            const event = { k: `dev-${v}-x` };
            const expected = patterns.flatMap((p, i) => (testPattern(p, event) ? [`r${i}`] : [])).sort();
            expect(matcher.match(event).sort()).toEqual(expected);
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});
