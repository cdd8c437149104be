/**
 * Waits for `work`, at most `ms`; returns whether it finished in time (a rejection of `work` passes
 * through). The work itself is not cancelled: it is left to finish or fail on its own.
 */
export async function within(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([work.then(() => true), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}
