import { describe, expect, it } from 'vitest';
import { CircuitBreaker, type CircuitState } from './circuit-breaker.js';

describe('CircuitBreaker', () => {
  it('opens after the threshold of consecutive failures, lets one probe through after the open period, and closes on success', () => {
    const changes: string[] = [];
    const b = new CircuitBreaker({ failureThreshold: 3, openMs: 1000, onChange: (f, t) => changes.push(`${f}->${t}`) });
    b.onFailure(0);
    b.onFailure(1);
    expect(b.gate(2)).toBe('pass');
    b.onFailure(2);
    expect(b.state).toBe<CircuitState>('open');
    expect(b.gate(1001)).toBe('blocked');
    expect(b.gate(1002)).toBe('probe');
    b.onSuccess();
    expect(b.gate(1003)).toBe('pass');
    expect(changes).toEqual(['closed->open', 'open->half-open', 'half-open->closed']);
  });

  it('re-opens for a full period when the probe fails', () => {
    const b = new CircuitBreaker({ failureThreshold: 1, openMs: 100 });
    b.onFailure(0);
    expect(b.gate(100)).toBe('probe');
    b.onFailure(100);
    expect(b.gate(150)).toBe('blocked');
    expect(b.gate(200)).toBe('probe');
  });

  it('counts only consecutive failures', () => {
    const b = new CircuitBreaker({ failureThreshold: 2, openMs: 100 });
    b.onFailure(0);
    b.onSuccess();
    b.onFailure(1);
    expect(b.state).toBe('closed');
  });
});
