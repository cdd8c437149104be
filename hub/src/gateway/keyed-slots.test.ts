import { describe, expect, it } from 'vitest';
import { KeyedSlots } from './keyed-slots.js';

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('KeyedSlots', () => {
  it('runs at most perKey tasks of one key at once, in arrival order, while other keys run at once', async () => {
    const slots = new KeyedSlots(2);
    const started: string[] = [];
    const gates = new Map<string, { promise: Promise<void>; resolve: () => void }>();
    const task = (name: string) => () => {
      started.push(name);
      const d = deferred();
      gates.set(name, d);
      return d.promise.then(() => name);
    };
    const a = ['a1', 'a2', 'a3', 'a4'].map((n) => slots.run('a', task(n)));
    const b = slots.run('b', task('b1'));
    await Promise.resolve();
    expect(started).toEqual(['a1', 'a2', 'b1']);
    expect(slots.load('a')).toEqual({ running: 2, waiting: 2 });
    gates.get('a2')!.resolve();
    await a[1];
    await Promise.resolve();
    expect(started).toEqual(['a1', 'a2', 'b1', 'a3']);
    for (const n of ['a1', 'a3', 'b1']) gates.get(n)!.resolve();
    await Promise.all([a[0], a[2], b]);
    await Promise.resolve();
    expect(started.at(-1)).toBe('a4');
    gates.get('a4')!.resolve();
    expect(await Promise.all(a)).toEqual(['a1', 'a2', 'a3', 'a4']);
    expect(slots.load('a')).toEqual({ running: 0, waiting: 0 });
  });

  it('frees the slot of a task that throws', async () => {
    const slots = new KeyedSlots(1);
    await expect(slots.run('k', () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await slots.run('k', () => Promise.resolve('next'))).toBe('next');
  });
});
