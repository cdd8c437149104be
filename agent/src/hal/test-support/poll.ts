/**
 * Polls `condition` every 10 ms until it holds; throws `message` after `timeoutMs`. For the HAL
 * tests, which wait on tool processes and their logs (the workspace cannot import scripts/support).
 */
export async function pollUntil(condition: () => Promise<boolean> | boolean, message: string, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(message);
    await new Promise((r) => setTimeout(r, 10));
  }
}
