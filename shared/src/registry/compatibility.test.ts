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

  it('resolves local $refs before comparing, so a narrowing through a definition is refused and a plain copy accepted', () => {
    const viaRef = { ...withProps({ count: { $ref: '#/definitions/small' } }), definitions: { small: { type: 'integer', maximum: 3 } } };
    const plain = withProps({ count: { type: 'integer' } });
    expect(checkCompatibility(v(2, viaRef), [v(1, plain)]).problems).toEqual(['v1 -> v2 (BACKWARD) at /count: maximum tightened to 3']);
    // The earlier version used the $ref; a later one that spells the same type out (and widens it) is compatible.
    expect(checkCompatibility(v(3, plain), [v(2, viaRef)])).toEqual({ compatible: true, problems: [] });
    // A JSON pointer into the document, the document's own id, and $ref siblings being ignored (draft-04).
    const pointer = { ...withProps({ count: { $ref: '#/properties/id', type: 'integer' } }), id: 'https://example.com/x.v2.json' };
    expect(checkCompatibility(v(2, pointer), [v(1, plain)]).problems).toEqual([
      'v1 -> v2 (BACKWARD) at /count: type integer is no longer accepted',
      'v1 -> v2 (BACKWARD) at /count: maxLength tightened to 64',
    ]);
    const ownId = { ...withProps({ count: { $ref: 'https://example.com/x.v2.json#/definitions/small' } }), id: 'https://example.com/x.v2.json', definitions: viaRef.definitions };
    expect(checkCompatibility(v(2, ownId), [v(1, plain)]).problems).toEqual(['v1 -> v2 (BACKWARD) at /count: maximum tightened to 3']);
  });

  it('refuses a $ref it cannot resolve within the document, and terminates on cyclic and recursive refs', () => {
    const plain = withProps({ count: { type: 'integer' } });
    for (const ref of ['http://127.0.0.1:9/remote.json', '#/definitions/nope', '#/definitions/a']) {
      const doc = { ...withProps({ count: { $ref: ref } }), definitions: { a: { $ref: '#/definitions/b' }, b: { $ref: '#/definitions/a' } } };
      expect(checkCompatibility(v(2, doc), [v(1, plain)]).problems, ref).toEqual([
        `v1 -> v2 (BACKWARD) at /count: cannot show that the change is compatible: keyword $ref at /count: ${JSON.stringify(ref)} does not resolve within the schema`,
      ]);
    }
    const tree = (max: number) => ({ type: 'object', properties: { label: { type: 'string', maxLength: max }, children: { type: 'array', items: { $ref: '#' } } } });
    expect(checkCompatibility(v(2, tree(8)), [v(1, tree(8))], 'FULL')).toEqual({ compatible: true, problems: [] });
    expect(checkCompatibility(v(2, tree(4)), [v(1, tree(8))]).problems).toEqual(['v1 -> v2 (BACKWARD) at /label: maxLength tightened to 4']);
  });

  it('refuses a keyword it cannot reason about when it is new or changed, naming the keyword and the path', () => {
    const cases: Array<[string, Record<string, unknown>, RegExp]> = [
      ['allOf', { ...base, allOf: [{ properties: { id: { maxLength: 3 } } }] }, /at \/: cannot show that the change is compatible: keyword allOf at \/ is new or changed/],
      ['anyOf', withProps({ note: { type: 'string', anyOf: [{ maxLength: 3 }] } }), /at \/note: cannot show .*keyword anyOf at \/note/],
      ['oneOf', withProps({ note: { type: 'string', oneOf: [{ maxLength: 3 }] } }), /at \/note: cannot show .*keyword oneOf at \/note/],
      ['not', withProps({ note: { type: 'string', not: { enum: ['x'] } } }), /at \/note: cannot show .*keyword not at \/note/],
      ['multipleOf', withProps({ note: { type: 'integer', multipleOf: 7 } }, base.required), /keyword multipleOf at \/note/],
      ['dependencies', { ...base, dependencies: { id: ['note'] } }, /keyword dependencies at \//],
      ['patternProperties', { ...base, patternProperties: { '^n': { type: 'integer' } } }, /keyword patternProperties at \//],
      ['items (tuple)', withProps({ tags: { type: 'array', items: [{ type: 'string' }], additionalItems: false } }), /keyword items at \/tags/],
      ['maxProperties', { ...base, maxProperties: 1 }, /at \/: maxProperties tightened to 1/],
      ['minProperties', { ...base, minProperties: 3 }, /at \/: minProperties tightened to 3/],
    ];
    const old = withProps({ tags: { type: 'array', items: { type: 'string' } }, note: { type: 'integer' } });
    for (const [keyword, next, expected] of cases) {
      const doc = keyword === 'items (tuple)' || keyword === 'multipleOf' ? next : { ...next, properties: { ...old.properties, ...(next.properties as object) } };
      const result = checkCompatibility(v(2, doc), [v(1, keyword === 'anyOf' || keyword === 'oneOf' || keyword === 'not' ? base : old)]);
      expect(result.compatible, keyword).toBe(false);
      expect(result.problems.join('\n'), keyword).toMatch(expected);
    }
  });

  it('keeps identical subschemas compatible, even where they use keywords it cannot reason about', () => {
    const same = {
      ...base,
      allOf: [{ $ref: '#/definitions/idShort' }],
      dependencies: { note: ['id'] },
      patternProperties: { '^x-': { type: 'string' } },
      properties: { ...base.properties, note: { type: 'string', not: { enum: ['x'] } }, tags: { type: 'array', items: [{ type: 'string' }], additionalItems: false }, n: { type: 'integer', multipleOf: 4 } },
      definitions: { idShort: { properties: { id: { maxLength: 8 } } } },
    };
    // The same constraints, the definition under another name: identical once refs are resolved.
    const renamed = { ...same, allOf: [{ $ref: '#/definitions/short' }], definitions: { short: same.definitions.idShort } };
    expect(checkCompatibility(v(2, renamed), [v(1, same)], 'FULL_TRANSITIVE')).toEqual({ compatible: true, problems: [] });
    // multipleOf 2 accepts every multiple of 4.
    const coarser = { ...same, properties: { ...same.properties, n: { type: 'integer', multipleOf: 2 } } };
    expect(checkCompatibility(v(2, coarser), [v(1, same)])).toEqual({ compatible: true, problems: [] });
    // The same $ref text pointing at a different definition is not identical.
    const changed = { ...same, definitions: { idShort: { properties: { id: { maxLength: 4 } } } } };
    expect(checkCompatibility(v(2, changed), [v(1, same)]).problems).toEqual(['v1 -> v2 (BACKWARD) at /: cannot show that the change is compatible: keyword allOf at / is new or changed']);
  });

  it('treats an exclusive bound at the same limit as a narrowing', () => {
    const inclusive = withProps({ n: { type: 'integer', minimum: 0, maximum: 10 } });
    const exclusive = withProps({ n: { type: 'integer', minimum: 0, exclusiveMinimum: true, maximum: 10, exclusiveMaximum: true } });
    expect(checkCompatibility(v(2, exclusive), [v(1, inclusive)]).problems).toEqual([
      'v1 -> v2 (BACKWARD) at /n: minimum tightened to >0',
      'v1 -> v2 (BACKWARD) at /n: maximum tightened to <10',
    ]);
    expect(checkCompatibility(v(2, inclusive), [v(1, exclusive)])).toEqual({ compatible: true, problems: [] });
  });

  it('checks an additionalProperties schema, and the names a writer allows through patternProperties', () => {
    const open = { ...base, additionalProperties: true };
    const typed = { ...base, additionalProperties: { type: 'string' } };
    expect(checkCompatibility(v(2, typed), [v(1, open)]).problems).toEqual(['v1 -> v2 (BACKWARD) at /*: the reader requires type string where the writer allows any value']);
    expect(checkCompatibility(v(2, open), [v(1, typed)])).toEqual({ compatible: true, problems: [] });
    // A closed writer with patterns may carry "x-colour"; a reader that declares it with constraints narrows it.
    const patterned = { ...base, patternProperties: { '^x-': {} } };
    const declared = { ...patterned, properties: { ...base.properties, 'x-colour': { type: 'string' } } };
    expect(checkCompatibility(v(2, declared), [v(1, patterned)]).problems).toEqual([
      'v1 -> v2 (BACKWARD) at /x-colour: added with constraints, but the earlier schema allowed any additional property',
    ]);
    // A closed reader without the writer's patterns refuses the names those patterns allowed.
    expect(checkCompatibility(v(2, base), [v(1, patterned)]).problems).toEqual(['v1 -> v2 (BACKWARD) at /: additional properties are now refused']);
  });
});
