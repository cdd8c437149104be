import { createLogger, describeError, isKeywayError, type Logger } from '@keyway/shared';
import { systemClock, type Clock, type TimerHandle } from '../hal/clock.js';
import type { DoorController } from './controller.js';
import type { DoorEvents } from './types.js';

export interface AutoCloseConfig {
  /** Close after the door has stood open this long, ms; 0 disables. Default 0. */
  afterOpenMs: number;
  /** Close this long after a delivery is reported complete, ms. Default 60000. */
  afterDeliveryMs: number;
  /** After a close fails (obstructed, busy), try again after this long, ms. Default 60000. */
  retryMs: number;
}

/**
 * Unattended closes in a row that an obstruction may stop before the door is left open. As openers do for their own
 * timer-to-close (UL 325 unattended operation): two tries, then the door stays open until someone acts.
 */
export const MAX_OBSTRUCTED_AUTO_CLOSES = 2;

export interface DeliveryDone {
  grantId?: string;
  holder?: string;
}

/**
 * Auto-close policies on top of a DoorController: close after N ms open, and after a
 * delivery; `holdOpen(ms)` suspends both for a while (the owner carrying things in).
 * The controller supplies the warning and the beam check; this only decides when.
 */
export class AutoCloser {
  private readonly config: AutoCloseConfig;
  private readonly clock: Clock;
  private readonly log: Logger;
  private timer: TimerHandle | undefined;
  private dueAt: number | null = null;
  private pending: { reason: 'open-timeout' | 'delivery'; delivery?: DeliveryDone } | null = null;
  private holdUntil = 0;
  private unsubscribe: (() => void) | undefined;
  /** Unattended closes stopped by the beam since the door was last closed, opened by someone or given a delivery. */
  private obstructed = 0;

  constructor(
    private readonly door: DoorController,
    config: Partial<AutoCloseConfig> = {},
    clock: Clock = systemClock,
    logger?: Logger,
  ) {
    this.config = { afterOpenMs: 0, afterDeliveryMs: 60_000, retryMs: 60_000, ...config };
    this.clock = clock;
    this.log = logger ?? createLogger('agent.door.auto-close');
  }

  start(): Promise<void> {
    this.unsubscribe ??= this.door.events.on('stateChanged', (e) => this.onState(e));
    if (this.door.currentState === 'open') this.armOpenTimeout();
    return Promise.resolve();
  }

  stop(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.cancel();
    return Promise.resolve();
  }

  /** When the next automatic close is due (clock ms), or null. */
  get nextCloseAt(): number | null {
    return this.dueAt;
  }

  /** A delivery finished: close after `afterDeliveryMs`, attributed to the delivery's grant. */
  deliveryCompleted(delivery: DeliveryDone = {}): void {
    this.obstructed = 0;
    this.schedule(this.config.afterDeliveryMs, { reason: 'delivery', delivery });
  }

  /** Temporary override: no automatic close before now + ms. */
  holdOpen(ms: number): void {
    this.holdUntil = this.clock.now() + ms;
    if (this.pending && this.dueAt !== null && this.dueAt < this.holdUntil) this.schedule(this.holdUntil - this.clock.now(), this.pending);
  }

  /** Ends a hold early; a pending close runs at its original time (or now if that has passed). */
  resume(): void {
    this.holdUntil = 0;
  }

  private onState(e: DoorEvents['stateChanged']): void {
    if (e.state === 'open') {
      if (!this.pending && this.obstructed < MAX_OBSTRUCTED_AUTO_CLOSES) this.armOpenTimeout();
    } else if (e.state === 'closed' || e.state === 'opening') {
      // Closed: nothing to do. Opening again (e.g. by hand): start over when it is open. A reversal on the beam is
      // not someone opening it: it neither resets the count of obstructed closes nor drops the retry.
      if (e.state === 'opening' && e.cause.kind === 'obstruction-reversal') return;
      this.obstructed = 0;
      this.cancel();
    }
  }

  private armOpenTimeout(): void {
    if (this.config.afterOpenMs > 0) this.schedule(this.config.afterOpenMs, { reason: 'open-timeout' });
  }

  private schedule(ms: number, what: NonNullable<AutoCloser['pending']>): void {
    this.cancel();
    this.pending = what;
    this.dueAt = this.clock.now() + Math.max(ms, this.holdUntil - this.clock.now(), 0);
    this.timer = this.clock.setTimeout(() => void this.fire(), this.dueAt - this.clock.now());
  }

  private cancel(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.dueAt = null;
    this.pending = null;
  }

  private async fire(): Promise<void> {
    const what = this.pending;
    this.timer = undefined;
    if (!what) return;
    if (this.clock.now() < this.holdUntil) {
      this.schedule(this.holdUntil - this.clock.now(), what);
      return;
    }
    this.pending = null;
    this.dueAt = null;
    if (this.door.currentState === 'closed') return;
    try {
      const result = await this.door.close({
        kind: 'auto-close',
        ...(what.delivery?.grantId === undefined ? {} : { grantId: what.delivery.grantId }),
        ...(what.delivery?.holder === undefined ? {} : { holder: what.delivery.holder }),
      });
      if (result.outcome === 'obstructed') this.retryObstructed(what);
    } catch (error) {
      if (isKeywayError(error) && error.details.reason === 'obstructed') {
        this.retryObstructed(what);
        return;
      }
      this.log.warn({ err: describeError(error), reason: what.reason }, 'auto-close did not run; will retry');
      if (this.unsubscribe && this.door.currentState !== 'fault') this.schedule(this.config.retryMs, what);
    }
  }

  private retryObstructed(what: NonNullable<AutoCloser['pending']>): void {
    this.obstructed += 1;
    if (this.obstructed >= MAX_OBSTRUCTED_AUTO_CLOSES) {
      this.log.warn({ reason: what.reason, attempts: this.obstructed }, `auto-close stopped by the beam ${this.obstructed} times in a row; the door stays open until someone closes it`);
      return;
    }
    if (this.unsubscribe) this.schedule(this.config.retryMs, what);
  }
}
