export interface BackoffPolicy {
  /** First delay's ceiling, ms (default 500). */
  baseMs: number;
  /** Largest delay, ms (default 60000). */
  capMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 500, capMs: 60_000 };

/**
 * Capped exponential backoff with "equal jitter": half the ceiling fixed, half random. A fleet that lost the
 * broker together does not come back in lock-step, and no device retries in a tight loop.
 */
export function backoffDelay(attempt: number, policy: BackoffPolicy = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.capMs, policy.baseMs * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}
