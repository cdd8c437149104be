/**
 * Thrown by a handler that chose not to attempt this delivery now (its own downstream is known to be unavailable,
 * say one customer's webhook behind its own circuit): the delivery is scheduled again at `untilMs` without counting an
 * attempt, a failure or a circuit failure. Anything else thrown is a failed attempt, retried with backoff.
 */
export class DeferDelivery extends Error {
  constructor(
    readonly untilMs: number,
    reason: string,
  ) {
    super(reason);
    this.name = 'DeferDelivery';
  }
}
