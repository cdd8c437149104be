/**
 * The generated zod validators and the reference draft-04 validator (ajv + ajv-draft-04) must agree on every
 * schema: on each schema's examples and on invalid fixtures derived from them (each required field dropped, each
 * field given a wrong type, an unknown field added, each enum and length rule broken).
 */
import type { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { SCHEMA_DOCUMENTS } from './generated/schemas.js';
import { dataValidators } from './generated/validators.js';
import { createDraft04Ajv } from './registry/draft04.js';

type Doc = Record<string, unknown>;
type Fixture = { name: string; value: unknown };

function mutations(example: Doc, schema: Doc): Fixture[] {
  const props = (schema.properties ?? {}) as Record<string, Doc>;
  const out: Fixture[] = [{ name: 'example', value: example }, { name: 'not an object', value: [example] }];
  for (const field of (schema.required ?? []) as string[]) {
    const { [field]: _dropped, ...rest } = example;
    out.push({ name: `without ${field}`, value: rest });
  }
  out.push({ name: 'with an unknown field', value: { ...example, zzUnknown: 1 } });
  for (const [field, sub] of Object.entries(props)) {
    for (const wrong of [42, 'text', true, null, [], {}, 1.5, -1, '', 'x'.repeat(600), '2026-13-40T99:00:00Z']) {
      out.push({ name: `${field} = ${JSON.stringify(wrong).slice(0, 20)}`, value: { ...example, [field]: wrong } });
    }
    if (sub.type === 'object') {
      out.push({ name: `${field} with unknown inner field`, value: { ...example, [field]: { ...(example[field] as Doc), zz: 1 } } });
    }
  }
  return out;
}

describe('generated validators agree with the reference draft-04 validator', () => {
  const ajv = createDraft04Ajv();
  let fixtures = 0;
  for (const { file, document } of SCHEMA_DOCUMENTS) {
    it(`on ${file}`, () => {
      const meta = document['x-keyway'] as { type: string; version: number; examples: Doc[] };
      const zod = (dataValidators as unknown as Record<string, Record<number, z.ZodType>>)[meta.type]![meta.version]!;
      const reference = ajv.compile(document);
      expect(meta.examples.length).toBeGreaterThan(0);
      let valid = 0;
      for (const example of meta.examples) {
        for (const fixture of mutations(example, document)) {
          fixtures += 1;
          const byAjv = reference(fixture.value);
          const byZod = zod.safeParse(fixture.value).success;
          expect(byZod, `${file}: ${fixture.name}`).toBe(byAjv);
          if (byAjv) valid += 1;
        }
      }
      expect(valid, 'the examples themselves are valid').toBeGreaterThanOrEqual(meta.examples.length);
    });
  }
  it('checked a meaningful number of fixtures', () => {
    expect(fixtures).toBeGreaterThan(1000);
  });
});
