import { describe, expect, it } from 'vitest';
import { checkCompatibility, type CompatibilityMode } from './compatibility.js';

const base = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'state'],
  properties: { id: { type: 'string', maxLength: 64 }, state: { enum: ['open', 'closed'] }, note: { type: 'string' } },
};
const v = (version: number, document: Record<string, unknown>) => ({ version, document });
const withProps = (extra: Record<string, unknown>, req: string[] = base.required) => ({ ...base, required: req, properties: { ...base.properties, ...extra } });

describe('schema compatibility', () => {
  it('judges adding an optional property BACKWARD compatible, and FORWARD incompatible only because the old schema is closed', () => {
    const next = withProps({ colour: { type: 'string' } });
    for (const mode of ['BACKWARD', 'BACKWARD_TRANSITIVE'] as CompatibilityMode[]) {
      expect(checkCompatibility(v(2, next), [v(1, base)], mode), mode).toEqual({ compatible: true, problems: [] });
    }
    expect(checkCompatibility(v(2, next), [v(1, base)], 'FORWARD').problems).toEqual([
      'v1 -> v2 (FORWARD) at /colour: not known to the reading schema, which refuses additional properties',
    ]);
    const openOld = { ...base, additionalProperties: true };
    const openNext = { ...openOld, properties: { ...openOld.properties, colour: {} } };
    expect(checkCompatibility(v(2, openNext), [v(1, openOld)], 'FULL').compatible).toBe(true);
  });

  it('refuses adding a required property without a default under BACKWARD, and accepts it with a default', () => {
    const noDefault = withProps({ colour: { type: 'string' } }, [...base.required, 'colour']);
    const result = checkCompatibility(v(2, noDefault), [v(1, base)]);
    expect(result.compatible).toBe(false);
    expect(result.problems.join()).toMatch(/\/colour: required without a default/);
    const withDefault = withProps({ colour: { type: 'string', default: 'red' } }, [...base.required, 'colour']);
    expect(checkCompatibility(v(2, withDefault), [v(1, base)]).compatible).toBe(true);
  });

  it('refuses removing a required field under FORWARD but allows it under BACKWARD', () => {
    const removed = { ...base, required: ['id'], properties: { id: base.properties.id, note: base.properties.note } };
    // BACKWARD: the new reader refuses "state" that old data carries, because additional properties are refused.
    expect(checkCompatibility(v(2, removed), [v(1, base)], 'BACKWARD').compatible).toBe(false);
    const open = { ...removed, additionalProperties: true };
    expect(checkCompatibility(v(2, open), [v(1, base)], 'BACKWARD').compatible).toBe(true);
    const forward = checkCompatibility(v(2, open), [v(1, base)], 'FORWARD');
    expect(forward.compatible).toBe(false);
    expect(forward.problems.join()).toMatch(/\/state: required without a default/);
  });

  it('refuses narrowing a type under BACKWARD and widening it under FORWARD', () => {
    const narrowed = withProps({ count: { type: 'integer' } });
    const wide = withProps({ count: { type: 'number' } });
    expect(checkCompatibility(v(2, narrowed), [v(1, wide)], 'BACKWARD').problems.join()).toMatch(/type number is no longer accepted/);
    expect(checkCompatibility(v(2, wide), [v(1, narrowed)], 'BACKWARD').compatible).toBe(true);
    expect(checkCompatibility(v(2, wide), [v(1, narrowed)], 'FORWARD').compatible).toBe(false);
    expect(checkCompatibility(v(2, wide), [v(1, narrowed)], 'FULL').compatible).toBe(false);
  });

  it('refuses removing an enum value and tightening a length under BACKWARD', () => {
    const fewer = withProps({ state: { enum: ['open'] } });
    expect(checkCompatibility(v(2, fewer), [v(1, base)]).problems.join()).toMatch(/enum value "closed" was removed/);
    const shorter = withProps({ id: { type: 'string', maxLength: 8 } });
    expect(checkCompatibility(v(2, shorter), [v(1, base)]).problems.join()).toMatch(/maxLength tightened to 8/);
  });

  it('checks only the latest earlier version unless the mode is transitive', () => {
    const v1 = withProps({ count: { type: 'number' } });
    const v2 = withProps({ count: { type: 'number' }, extra: { type: 'string' } });
    const v3 = withProps({ count: { type: 'integer' }, extra: { type: 'string' } });
    const v2b = withProps({ count: { type: 'integer' } });
    // v3 is compared with v2b only in BACKWARD, but with v1 as well in BACKWARD_TRANSITIVE.
    expect(checkCompatibility(v(3, v3), [v(1, v1), v(2, v2b)], 'BACKWARD').compatible).toBe(true);
    expect(checkCompatibility(v(3, v3), [v(1, v1), v(2, v2b)], 'BACKWARD_TRANSITIVE').problems.join()).toMatch(/v1 -> v3/);
    expect(checkCompatibility(v(3, v2), [v(1, v1), v(2, v2b)], 'FORWARD_TRANSITIVE').problems.join()).toMatch(/v2 -> v3 \(FORWARD\)/);
    expect(checkCompatibility(v(3, v3), [v(1, v1), v(2, v2b)], 'FULL_TRANSITIVE').compatible).toBe(false);
  });

  it('accepts anything under NONE', () => {
    expect(checkCompatibility(v(2, { type: 'string' }), [v(1, base)], 'NONE').compatible).toBe(true);
  });

  it('reports a property added with constraints when the earlier schema was open', () => {
    const open = { ...base, additionalProperties: true };
    const next = { ...open, properties: { ...open.properties, colour: { type: 'string' } } };
    expect(checkCompatibility(v(2, next), [v(1, open)]).problems.join()).toMatch(/colour: added with constraints/);
  });
});
