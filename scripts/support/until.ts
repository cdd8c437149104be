/**
 * Polls until `probe` returns something other than undefined or false, and returns it; throws naming `what` after
 * `timeoutMs`. Shared by the demo, the benchmarks and the tests that wait on real processes and devices.
 */
export async function until<T>(what: string, probe: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 20_000, pollMs = 20): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

/** `until` for a plain condition. */
export async function waitUntil(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  await until('the condition', condition, timeoutMs);
}
