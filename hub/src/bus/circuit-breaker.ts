export type CircuitState = 'closed' | 'open' | 'half-open';

/** What a worker may do now: deliver freely, send one probe, or wait. */
export type CircuitGate = 'pass' | 'probe' | 'blocked';

export interface CircuitBreakerOptions {
  failureThreshold: number;
  openMs: number;
  onChange?: (from: CircuitState, to: CircuitState) => void;
}

/**
 * Per target: after `failureThreshold` consecutive failures the circuit opens and nothing is sent
 * for `openMs`; then one probe goes through (half-open). A successful probe closes it, a failed
 * one opens it again. Keeps the hub from hammering a target that is down.
 */
export class CircuitBreaker {
  private current: CircuitState = 'closed';
  private failures = 0;
  private openedAt = 0;

  constructor(private readonly options: CircuitBreakerOptions) {}

  get state(): CircuitState {
    return this.current;
  }

  /** When an open circuit lets its next probe through. */
  get retryAt(): number {
    return this.openedAt + this.options.openMs;
  }

  gate(now: number): CircuitGate {
    switch (this.current) {
      case 'closed':
        return 'pass';
      case 'half-open':
        return 'probe';
      case 'open':
        if (now < this.retryAt) return 'blocked';
        this.move('half-open');
        return 'probe';
    }
  }

  onSuccess(): void {
    this.failures = 0;
    if (this.current !== 'closed') this.move('closed');
  }

  onFailure(now: number): void {
    this.failures += 1;
    if (this.current === 'half-open' || (this.current === 'closed' && this.failures >= this.options.failureThreshold)) {
      this.openedAt = now;
      this.move('open');
    }
  }

  private move(to: CircuitState): void {
    const from = this.current;
    this.current = to;
    this.options.onChange?.(from, to);
  }
}
