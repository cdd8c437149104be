/** What is known about the current time: the true time lies in [lowMs, highMs] (highMs may be Infinity). */
export interface TimeInterval {
  lowMs: number;
  highMs: number;
}

export type WindowDecision = 'valid' | 'expired' | 'not-yet-valid' | 'undecidable';

/**
 * Decides whether a validity window [fromMs, untilMs] holds, given only an interval for "now".
 * `toleranceMs` is the clock-skew tolerance granted at both edges. When the interval straddles an edge,
 * the answer is `undecidable`: the caller must refuse rather than guess.
 */
export function decideWindow(fromMs: number, untilMs: number, now: TimeInterval, toleranceMs: number): WindowDecision {
  if (now.lowMs > untilMs + toleranceMs) return 'expired';
  if (now.highMs < fromMs - toleranceMs) return 'not-yet-valid';
  if (now.lowMs >= fromMs - toleranceMs && now.highMs <= untilMs + toleranceMs) return 'valid';
  return 'undecidable';
}
