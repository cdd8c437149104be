import { describe, expect, expectTypeOf, it } from 'vitest';
import { RuleMatcher, makePatternBuilder, pattern, testPattern } from './index.js';

interface TestEvents {
  'test.Door': {
    state: 'open' | 'closed';
    positionPct?: number;
    cause: { kind: 'keypad' | 'command'; holder?: string };
    tags: string[];
    readings: { sensor: string; value: number }[];
    armed: boolean;
    cleared: string | null;
  };
  'test.Ping': { seq: number };
}

const build = makePatternBuilder<TestEvents>();

describe('the typed pattern builder', () => {
  it('when fields exist on the event type, it builds a pattern that selects that type', () => {
    const p = build('test.Door', {
      source: [{ prefix: 'keyway://device/' }],
      data: {
        state: ['open'],
        positionPct: [{ numeric: ['>', 10, '<=', 90] }],
        cause: { kind: ['keypad'], holder: [{ exists: true }] },
        tags: [{ 'anything-but': ['test'] }],
        readings: { sensor: [{ wildcard: 'door-*' }], value: [{ numeric: ['<', 3] }] },
        armed: [false],
        cleared: [null, ''],
      },
    });
    expect(p.type).toEqual(['test.Door']);
    const event = {
      type: 'test.Door',
      source: 'keyway://device/d1',
      data: { state: 'open', positionPct: 50, cause: { kind: 'keypad', holder: 'h' }, tags: ['a'], readings: [{ sensor: 'door-1', value: 2 }], armed: false, cleared: null },
    };
    expect(testPattern(p, event)).toBe(true);
    const m = new RuleMatcher();
    m.add('typed', p);
    expect(m.match({ ...event, type: 'test.Ping' })).toEqual([]);
    expectTypeOf(p.type).toEqualTypeOf<readonly ['test.Door']>();
  });

  it('when a field, value or operand does not fit the event type, it fails to compile', () => {
    // Each line below is a compile error that `tsc -b` proves (an unused @ts-expect-error fails the build).
    // @ts-expect-error unknown data field
    build('test.Door', { data: { colour: ['red'] } });
    // @ts-expect-error value outside the enum
    build('test.Door', { data: { state: ['ajar'] } });
    // @ts-expect-error numeric operator on a string field
    build('test.Door', { data: { state: [{ numeric: ['>', 1] }] } });
    // @ts-expect-error prefix on a number field
    build('test.Ping', { data: { seq: [{ prefix: '1' }] } });
    // @ts-expect-error unknown nested field
    build('test.Door', { data: { cause: { reason: ['x'] } } });
    // @ts-expect-error unknown event type
    build('test.Nope', {});
    // @ts-expect-error empty alternatives (also refused at run time)
    expect(() => build('test.Door', { data: { state: [] } })).toThrow(/data\.state/);
    // @ts-expect-error unknown envelope field
    build('test.Door', { colour: ['red'] });
    expect(() => build('test.Door', { data: { state: ['open'] } })).not.toThrow();
  });

  it('when $or is used, both branches are typed over the same event', () => {
    const p = build('test.Door', { data: { $or: [{ state: ['open'] }, { armed: [true] }] } });
    expect(testPattern(p, { type: 'test.Door', data: { state: 'closed', armed: true } })).toBe(true);
    // @ts-expect-error a $or branch with an unknown field
    build('test.Door', { data: { $or: [{ state: ['open'] }, { nope: [true] }] } });
  });

  it('when built over the generated event types, DoorStateChanged fields are checked', () => {
    const p = pattern('keyway.device.DoorStateChanged', { data: { state: ['open'] } });
    expect(testPattern(p, { type: 'keyway.device.DoorStateChanged', data: { state: 'open' } })).toBe(true);
    // @ts-expect-error DoorStateChanged has no "colour" field
    pattern('keyway.device.DoorStateChanged', { data: { colour: ['red'] } });
  });
});
