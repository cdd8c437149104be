import { describe, expect, it } from 'vitest';
import { ErrorCode, isKeywayError } from '@keyway/shared';
import { withTimeout } from './targets.js';

describe('withTimeout', () => {
  it('resolves with what the attempt resolves with when it answers before the deadline', async () => {
    const value = await withTimeout(1_000, () => Promise.resolve(42));
    expect(value).toBe(42);
  });

  it('when the deadline passes, rejects with TIMEOUT and aborts the signal the attempt holds', async () => {
    let signal: AbortSignal | undefined;
    const attempt = withTimeout(20, (get) => {
      signal = get();
      return new Promise<void>((resolve) => signal!.addEventListener('abort', () => resolve()));
    });
    const error: unknown = await attempt.catch((e: unknown) => e);
    expect(isKeywayError(error) && error.code).toBe(ErrorCode.Timeout);
    expect(signal?.aborted).toBe(true);
  });

  it('gives an attempt that first reads its signal after the deadline an already aborted one', async () => {
    let late: AbortSignal | undefined;
    let read!: () => void;
    const readLater = new Promise<void>((resolve) => (read = resolve));
    const attempt = withTimeout(10, async (get) => {
      await readLater;
      late = get();
    });
    await expect(attempt).rejects.toMatchObject({ code: ErrorCode.Timeout });
    read();
    await new Promise((r) => setTimeout(r, 0));
    expect(late?.aborted).toBe(true);
    expect(late?.reason).toMatchObject({ code: ErrorCode.Timeout });
  });

  it('passes the attempt’s own failure through, whether it rejects or throws before returning a promise', async () => {
    await expect(withTimeout(1_000, () => Promise.reject(new Error('refused')))).rejects.toThrow('refused');
    await expect(
      withTimeout(1_000, () => {
        throw new Error('thrown at once');
      }),
    ).rejects.toThrow('thrown at once');
  });
});
