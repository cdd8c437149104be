import { describe, expect, it } from 'vitest';
import { applyTransformer } from './transform.js';

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

  it('refuses a path that does not start with $.', () => {
    expect(() => applyTransformer({ inputPaths: { a: 'data.x' }, template: '<a>' }, event)).toThrow(/must start with/);
  });
});
