import { describe, expect, it } from 'vitest';
import { applyTransformer, checkTransformer, MAX_INPUT_PATHS, MAX_TEMPLATE_CHARS } from './transform.js';

const event = { id: 'e1', subject: 'garage-1', data: { deliveryId: 'd-1', n: 3, tags: ['a'] } };

describe('input transformer', () => {
  it('fills a string template from input paths', () => {
    const t = { inputPaths: { d: '$.data.deliveryId', g: '$.subject' }, template: 'delivery <d> at <g>' };
    expect(applyTransformer(t, event)).toBe('delivery d-1 at garage-1');
  });

  it('keeps picked values typed where a JSON template string is exactly a placeholder', () => {
    const t = {
      inputPaths: { n: '$.data.n', tags: '$.data.tags', all: '$' },
      template: { count: '<n>', tags: '<tags>', id: 'x-<n>', keep: 1 },
    };
    expect(applyTransformer(t, event)).toEqual({ count: 3, tags: ['a'], id: 'x-3', keep: 1 });
  });

  it('leaves unknown placeholders and yields empty text for missing values', () => {
    const t = { inputPaths: { m: '$.data.missing' }, template: '<m>|<other>' };
    expect(applyTransformer(t, event)).toBe('|<other>');
  });

  it('is checked at declaration: paths are strings under safe names, the template is bounded in depth and size', () => {
    const bad: [unknown, RegExp][] = [
      [{ inputPaths: { a: 5 }, template: '<a>' }, /input path for "a" must be a string/],
      [{ inputPaths: ['$.x'], template: '<a>' }, /inputPaths must be an object/],
      [{ inputPaths: { 'a b': '$.x' }, template: '<a>' }, /input name "a b" may hold only/],
      [{ inputPaths: Object.fromEntries(Array.from({ length: MAX_INPUT_PATHS + 1 }, (_, i) => [`p${i}`, '$.x'])), template: '' }, /101 input paths; at most 100/],
      [{ inputPaths: {}, template: JSON.parse(`${'['.repeat(33)}${']'.repeat(33)}`) as unknown }, /nests deeper than 32 levels/],
      [{ inputPaths: {}, template: 'x'.repeat(MAX_TEMPLATE_CHARS + 1) }, /8193 characters; at most 8192/],
    ];
    for (const [t, message] of bad) expect(() => checkTransformer(t as Parameters<typeof checkTransformer>[0])).toThrow(message);
    expect(() => checkTransformer({ inputPaths: { a: '$.data.x' }, template: JSON.parse(`${'['.repeat(32)}"<a>"${']'.repeat(32)}`) as unknown })).not.toThrow();
  });

  it('refuses a path that does not start with $.', () => {
    expect(() => applyTransformer({ inputPaths: { a: 'data.x' }, template: '<a>' }, event)).toThrow(/must start with/);
  });
});
