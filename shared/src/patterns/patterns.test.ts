import { describe, expect, it } from 'vitest';
import { KeywayError } from '../errors.js';
import { invalidFixtures, matchFixtures } from './conformance-fixtures.js';
import { RuleMatcher, parsePattern, testPattern } from './index.js';

describe('the pattern language, case by case (testPattern and RuleMatcher agree)', () => {
  it('has at least 150 match cases and covers both outcomes', () => {
    expect(matchFixtures.length).toBeGreaterThanOrEqual(150);
    expect(matchFixtures.filter((c) => c.match).length).toBeGreaterThan(50);
    expect(matchFixtures.filter((c) => !c.match).length).toBeGreaterThan(50);
  });

  it.each(matchFixtures.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    expect(testPattern(c.pattern, c.event)).toBe(c.match);
    const matcher = new RuleMatcher();
    matcher.add('rule', c.pattern);
    expect(matcher.match(c.event)).toEqual(c.match ? ['rule'] : []);
  });
});

describe('invalid patterns are refused at rule creation, naming the path and the problem', () => {
  it.each(invalidFixtures.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    let thrown: unknown;
    try {
      parsePattern(c.pattern);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(KeywayError);
    const error = thrown as KeywayError;
    expect(error.code).toBe('INVALID_PATTERN');
    expect(error.message).toContain(`at ${c.path}`);
    expect(error.details['path']).toBe(c.path);
    expect(() => new RuleMatcher().add('rule', c.pattern)).toThrow(KeywayError);
  });
});

describe('RuleMatcher holds many rules at once', () => {
  it('when several rules match one event, each id is returned once', () => {
    const m = new RuleMatcher<'a' | 'b' | 'c'>();
    m.add('a', { type: ['t'] });
    m.add('b', { type: [{ prefix: 't' }], n: [{ numeric: ['>', 1] }] });
    m.add('c', { $or: [{ type: ['t'] }, { n: [5] }] });
    expect(m.match({ type: 't', n: 5 }).sort()).toEqual(['a', 'b', 'c']);
    expect(m.match({ type: 'u', n: 5 }).sort()).toEqual(['c']);
    expect(m.size).toBe(3);
  });

  it('when a rule is removed, it no longer matches and the others still do', () => {
    const m = new RuleMatcher();
    m.add('a', { type: ['t'], x: [{ exists: true }] });
    m.add('b', { type: ['t'], x: [{ exists: true }] });
    expect(m.remove('a')).toBe(true);
    expect(m.remove('a')).toBe(false);
    expect(m.match({ type: 't', x: 1 })).toEqual(['b']);
    expect(m.size).toBe(1);
    m.remove('b');
    expect(m.match({ type: 't', x: 1 })).toEqual([]);
    expect(m.size).toBe(0);
  });

  it('when an id is added again, its new pattern replaces the old one', () => {
    const m = new RuleMatcher();
    m.add('a', { type: ['old'] });
    m.add('a', { type: ['new'] });
    expect(m.match({ type: 'old' })).toEqual([]);
    expect(m.match({ type: 'new' })).toEqual(['a']);
    expect(m.size).toBe(1);
  });

  it('when a replacement pattern is invalid, the old rule stays in place', () => {
    const m = new RuleMatcher();
    m.add('a', { type: ['old'] });
    expect(() => m.add('a', { type: [] })).toThrow(/data|type/);
    expect(m.match({ type: 'old' })).toEqual(['a']);
  });

  it('when rules share a prefix of conditions and one is removed, the other keeps its remaining conditions', () => {
    const m = new RuleMatcher();
    m.add('short', { type: ['t'] });
    m.add('long', { type: ['t'], n: [{ numeric: ['<', 3] }] });
    m.remove('short');
    expect(m.match({ type: 't', n: 2 })).toEqual(['long']);
    expect(m.match({ type: 't', n: 4 })).toEqual([]);
  });

  it('when thousands of rules are held, an event matches exactly those whose conditions hold', () => {
    const m = new RuleMatcher();
    for (let i = 0; i < 3000; i++) m.add(`r${i}`, { type: [`t${i % 100}`], n: [{ numeric: ['>=', i % 7] }] });
    const got = m.match({ type: 't5', n: 3 }).sort();
    const expected = Array.from({ length: 3000 }, (_, i) => i)
      .filter((i) => i % 100 === 5 && i % 7 <= 3)
      .map((i) => `r${i}`)
      .sort();
    expect(got).toEqual(expected);
  });

  it('when the event is JSON text, testPattern parses it first', () => {
    expect(testPattern('{"a":["x"]}', '{"a":"x"}')).toBe(true);
  });
});

describe('matching cost stays bounded on large arrays', () => {
  it('when several fields hold thousands of values each and the last field fails, both matchers answer quickly', { timeout: 3000 }, () => {
    const many = (n: number, f: (i: number) => unknown): unknown[] => Array.from({ length: n }, (_, i) => f(i));
    const event = { a: many(3000, (i) => i), b: many(3000, (i) => `v${i}`), c: many(3000, (i) => i % 2 === 0) };
    const failing = { a: [{ numeric: ['>=', 0] }], b: [{ prefix: 'v' }], c: ['never'] };
    const passing = { a: [{ numeric: ['>=', 0] }], b: [{ prefix: 'v' }], c: [true] };
    expect(testPattern(failing, event)).toBe(false);
    expect(testPattern(passing, event)).toBe(true);
    const m = new RuleMatcher();
    m.add('failing', failing);
    m.add('passing', passing);
    expect(m.match(event)).toEqual(['passing']);
  });

  it('when two different arrays hold a thousand objects each, fields over both do not multiply out', { timeout: 3000 }, () => {
    const objects = (n: number, key: string): unknown[] => Array.from({ length: n }, (_, i) => ({ [key]: i, tag: 'same' }));
    const event = { left: objects(1000, 'x'), right: objects(1000, 'y'), last: 'no' };
    const failing = { left: { tag: ['same'] }, right: { tag: ['same'] }, last: ['yes'] };
    const passing = { left: { x: [{ numeric: ['>', 998] }], tag: ['same'] }, right: { y: [0] }, last: ['no'] };
    const inconsistent = { left: { x: [999], tag: ['other'] } };
    expect(testPattern(failing, event)).toBe(false);
    expect(testPattern(passing, event)).toBe(true);
    expect(testPattern(inconsistent, event)).toBe(false);
    const m = new RuleMatcher();
    m.add('failing', failing);
    m.add('passing', passing);
    m.add('inconsistent', inconsistent);
    expect(m.match(event)).toEqual(['passing']);
  });
});
