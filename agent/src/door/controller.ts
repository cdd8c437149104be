import { createLogger, ErrorCode, KeywayError, type Logger } from '@keyway/shared';
import { sleep, systemClock, type Clock, type TimerHandle } from '../hal/clock.js';
import { DebouncedInput } from '../hal/debounce.js';
import { TypedEmitter } from '../hal/typed-emitter.js';
import { resolveDoorConfig } from './config.js';
import { deriveState, isMoving } from './sensor-state.js';
import type {
  CommandCause,
  CommandResult,
  DoorControllerConfig,
  DoorEvents,
  DoorIo,
  DoorState,
  FaultReason,
  MovementCause,
} from './types.js';

export type DoorAction = 'open' | 'close' | 'stop';

export interface DoorControllerOptions {
  io: DoorIo;
  clock?: Clock;
  config?: Partial<DoorControllerConfig>;
  logger?: Logger;
}

interface ActiveCommand {
  action: DoorAction;
  cause: CommandCause;
  abort: AbortController;
  presses: number;
  settled: Promise<unknown>;
}

const UNKNOWN_CAUSE: MovementCause = { kind: 'unknown' };
const WALL_BUTTON: MovementCause = { kind: 'wall-button' };

/**
 * Drives a single-button opener safely. State comes from the reed switches only (never from
 * what was commanded), so a restart re-derives it; commands press the relay only when the
 * sensors say the door is not already where it should be, verify the movement after each
 * press, and give up with `fault` after `maxPresses`. Any press that can start a close waits
 * for a clear beam and for the warning to have run `warningMs`. Nothing here presses the relay
 * except a command: start, stop and config changes never pulse it.
 */
export class DoorController {
  readonly events: TypedEmitter<DoorEvents>;
  private readonly io: DoorIo;
  private readonly clock: Clock;
  private readonly config: DoorControllerConfig;
  private readonly log: Logger;
  private closedSw: DebouncedInput | undefined;
  private openSw: DebouncedInput | undefined;
  private beam: DebouncedInput | undefined;
  private unsubscribers: Array<() => void> = [];
  private state: DoorState = 'unknown';
  private movementCause: MovementCause = UNKNOWN_CAUSE;
  private latchedFault: FaultReason | null = null;
  private travelTimer: TimerHandle | undefined;
  private active: ActiveCommand | null = null;
  private readonly waiters = new Set<() => void>();
  private warningSince: number | null = null;
  private obstructionCount = 0;
  /** The last movement ran out of travel time without reaching either limit switch (set by the travel timer). */
  private travelTimedOut = false;
  private lastPressEnd = Number.NEGATIVE_INFINITY;
  private started = false;

  constructor(options: DoorControllerOptions) {
    this.io = options.io;
    this.clock = options.clock ?? systemClock;
    this.config = resolveDoorConfig(options.config);
    this.log = options.logger ?? createLogger('agent.door');
    this.events = new TypedEmitter<DoorEvents>((error, event) =>
      this.log.error({ err: error, event }, 'door event listener threw; other listeners still ran'),
    );
  }

  get currentState(): DoorState {
    return this.state;
  }

  get isBusy(): boolean {
    return this.active !== null;
  }

  get obstructed(): boolean {
    return this.beam?.read() ?? false;
  }

  get settings(): Readonly<DoorControllerConfig> {
    return this.config;
  }

  /** Reads the sensors and reports the state they show. Never touches the relay. */
  start(): Promise<void> {
    if (this.started) return Promise.resolve();
    this.started = true;
    const { switchDebounceMs, beamDebounceMs } = this.config;
    this.closedSw = new DebouncedInput(this.io.closedSwitch, switchDebounceMs, this.clock);
    this.openSw = new DebouncedInput(this.io.openSwitch, switchDebounceMs, this.clock);
    this.beam = new DebouncedInput(this.io.beam, beamDebounceMs, this.clock);
    for (const input of [this.closedSw, this.openSw, this.beam]) input.start();
    this.unsubscribers.push(
      this.closedSw.onChange(() => this.onSwitches()),
      this.openSw.onChange(() => this.onSwitches()),
      this.beam.onChange((active) => this.onBeam(active)),
    );
    const initial = deriveState(this.closedSw.read(), this.openSw.read(), 'unknown');
    this.setState(initial, UNKNOWN_CAUSE, true);
    if (initial === 'fault') this.reportFault('both-limits', 'both limit switches report made; check the reed switches and wiring');
    return Promise.resolve();
  }

  /** Cancels a running command, releases the relay and warning (a release is never a press), frees every timer. */
  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    const active = this.active;
    if (active) {
      active.abort.abort(new KeywayError(ErrorCode.Unavailable, 'door controller is stopping; resend the command after restart'));
      await active.settled;
    }
    this.clearTravelTimer();
    for (const u of this.unsubscribers) u();
    this.unsubscribers = [];
    await Promise.all([this.closedSw?.close(), this.openSw?.close(), this.beam?.close()]);
    if (this.io.relay.active) await this.io.relay.write(false);
    if (this.io.warning.active) await this.io.warning.write(false);
    this.warningSince = null;
    for (const wake of [...this.waiters]) wake();
  }

  open(cause: CommandCause): Promise<CommandResult> {
    return this.execute('open', cause);
  }

  close(cause: CommandCause): Promise<CommandResult> {
    return this.execute('close', cause);
  }

  halt(cause: CommandCause): Promise<CommandResult> {
    return this.execute('stop', cause);
  }

  /** Clears a latched `fault` after someone has looked at the door; the state is re-derived. */
  clearFault(): void {
    if (this.latchedFault === null) return;
    this.latchedFault = null;
    this.onSwitches(true);
  }

  /**
   * Runs one command. `stop` pre-empts a running open/close; open/close while another command
   * runs are refused. Rejects with CommandRejected (busy, obstructed, not started) or DoorFault.
   */
  async execute(action: DoorAction, cause: CommandCause): Promise<CommandResult> {
    if (!this.started) throw new KeywayError(ErrorCode.Unavailable, 'door controller is not started; call start() first');
    if (this.active) {
      if (action !== 'stop') {
        throw new KeywayError(ErrorCode.CommandRejected, `door is busy with "${this.active.action}"; retry when it finishes or send stop`, {
          details: { reason: 'busy' },
        });
      }
      this.active.abort.abort(new KeywayError(ErrorCode.CommandRejected, 'superseded by a stop command', { details: { reason: 'superseded' } }));
      await this.active.settled;
      // Another command (or stop()) may have taken over while we waited.
      if (!this.started) throw new KeywayError(ErrorCode.Unavailable, 'door controller stopped; resend the command after restart');
      if (this.active) {
        throw new KeywayError(ErrorCode.CommandRejected, 'another command started first; retry', { details: { reason: 'busy' } });
      }
    }
    this.throwIfFault();
    const ctx: ActiveCommand = { action, cause, abort: new AbortController(), presses: 0, settled: Promise.resolve() };
    this.active = ctx;
    const run = this.runAction(ctx);
    ctx.settled = run.catch(() => undefined);
    try {
      return await run;
    } finally {
      this.active = null;
      await this.setWarning(false);
      this.notify();
    }
  }

  private async runAction(ctx: ActiveCommand): Promise<CommandResult> {
    switch (ctx.action) {
      case 'open':
        return this.doOpen(ctx);
      case 'close':
        return this.doClose(ctx);
      case 'stop':
        return this.doStop(ctx);
    }
  }

  private async doStop(ctx: ActiveCommand): Promise<CommandResult> {
    if (!isMoving(this.state)) {
      // Just after a press (a close this stop superseded, say) the door may be starting while its limit switch is
      // still made: wait for the start before answering "already", or the door runs on unwatched.
      const sincePress = this.clock.now() - this.lastPressEnd;
      const atLimit = this.state === 'open' || this.state === 'closed';
      const starting = atLimit && sincePress < this.config.startTimeoutMs && (await this.waitUntil(ctx, () => isMoving(this.state), this.config.startTimeoutMs - sincePress));
      if (!starting) return this.result(ctx, 'already');
    }
    // A press not made (the state changed while waiting, or a limit switch bounced) is decided again while the door
    // still moves: a stop is not dropped for a bounce of the switch the door is leaving.
    for (let round = 0; !(await this.press(ctx, this.pressMayStartClose())); round++) {
      this.guardRounds(ctx, round);
      if (!isMoving(this.state)) return this.result(ctx, 'already');
    }
    // Reed switches cannot see a halt mid-travel; the press is the evidence, and a limit
    // switch corrects it if the door arrives after all.
    if (isMoving(this.state)) this.setState('stopped', this.movementCause);
    return this.result(ctx, 'completed');
  }

  private async doOpen(ctx: ActiveCommand): Promise<CommandResult> {
    if (this.state === 'open') return this.result(ctx, 'already');
    for (let round = 0; ; round++) {
      this.throwIfFault();
      this.guardRounds(ctx, round);
      const state = this.current();
      switch (state) {
        case 'open':
          return this.result(ctx, 'completed');
        case 'closed':
          // A repeat press after one that did not move the door may meet an opener that
          // remembers "up" (someone stopped it just off the switch): it could go down.
          if (!(await this.press(ctx, ctx.presses > 0))) break;
          if (await this.waitUntil(ctx, () => this.state !== 'closed', this.config.startTimeoutMs)) await this.arriveOrGiveUp(ctx);
          break;
        case 'opening':
          await this.arriveOrGiveUp(ctx);
          break;
        case 'closing':
          // Stopping a closing door could start a close if the open switch has died: warn first.
          if (!(await this.press(ctx, true))) break;
          if (isMoving(this.state)) this.setState('stopped', this.movementCause);
          break;
        case 'stopped':
        case 'unknown':
          // Mid-travel the opener's next direction is not observable: treat it as a possible close.
          if (!(await this.press(ctx, true))) break;
          await this.limitOrGiveUp(ctx);
          break;
        case 'fault':
          this.throwIfFault();
      }
    }
  }

  private async doClose(ctx: ActiveCommand): Promise<CommandResult> {
    if (this.state === 'closed') return this.result(ctx, 'already');
    this.throwIfObstructed();
    let retries = 0;
    for (let round = 0; ; round++) {
      this.throwIfFault();
      this.guardRounds(ctx, round);
      const obstructionsBefore = this.obstructionCount;
      const state = this.current();
      switch (state) {
        case 'closed':
          return this.result(ctx, 'completed');
        case 'open':
          if (!(await this.press(ctx, true))) break;
          if (await this.waitUntil(ctx, () => this.state !== 'open', this.config.startTimeoutMs)) await this.arriveOrGiveUp(ctx);
          break;
        case 'closing':
          await this.arriveOrGiveUp(ctx);
          break;
        case 'opening':
          if (!(await this.press(ctx, true))) break;
          if (isMoving(this.state)) this.setState('stopped', this.movementCause);
          break;
        case 'stopped':
        case 'unknown':
          if (!(await this.press(ctx, true))) break;
          await this.limitOrGiveUp(ctx);
          break;
        case 'fault':
          this.throwIfFault();
      }
      if (this.obstructionCount !== obstructionsBefore) {
        await this.waitArrival(ctx);
        if (retries >= this.config.obstructionRetries) return this.result(ctx, 'obstructed');
        retries++;
        const clear = await this.waitUntil(ctx, () => !this.obstructed, this.config.travelTimeoutMs);
        if (!clear) return this.result(ctx, 'obstructed');
        // A retried close is a new unattended close: it gets a full warning period of its own.
        if (this.warningSince !== null) this.warningSince = this.clock.now();
      }
    }
  }

  /**
   * One relay closure. A press that may start a close needs a clear beam and a completed
   * warning. Returns false without pressing when the state changed while waiting (the door
   * arrived somewhere meanwhile): the caller decides again from the new state.
   */
  private async press(ctx: ActiveCommand, mayStartClose: boolean): Promise<boolean> {
    const decidedOn = this.state;
    if (ctx.presses >= this.config.maxPresses) {
      this.giveUp(`the door did not reach the target after ${ctx.presses} relay presses`);
    }
    if (mayStartClose) {
      this.throwIfObstructed();
      await this.ensureWarned(ctx.abort.signal);
      this.throwIfObstructed();
    }
    const gap = this.lastPressEnd + this.config.pressGapMs - this.clock.now();
    if (gap > 0) await sleep(this.clock, gap, ctx.abort.signal);
    if (mayStartClose) this.throwIfObstructed();
    if (this.state !== decidedOn) return false;
    if (this.arrivingAtLimit()) {
      // A limit switch has just made but its debounce has not reported it: the door has arrived (or is arriving)
      // where the state does not yet say. A press now would send a door that just closed back up. Let the state
      // catch up, then the caller decides again.
      await this.waitUntil(ctx, () => !this.arrivingAtLimit(), 2 * this.config.switchDebounceMs + 10);
      return false;
    }
    ctx.presses++;
    try {
      await this.io.relay.write(true);
      this.events.emit('relayPulse', { at: this.clock.now(), cause: ctx.cause });
      // Not abortable: a closure always runs its full length, then always releases (also when
      // the write itself failed half-way).
      await sleep(this.clock, this.config.pulseMs);
    } finally {
      await this.io.relay.write(false);
      this.lastPressEnd = this.clock.now();
    }
    return true;
  }

  /** A raw limit switch reads made while the debounced state is not yet that end. */
  private arrivingAtLimit(): boolean {
    return (this.io.closedSwitch.read() && this.state !== 'closed') || (this.io.openSwitch.read() && this.state !== 'open');
  }

  private async ensureWarned(signal: AbortSignal): Promise<void> {
    await this.setWarning(true);
    const since = this.warningSince ?? this.clock.now();
    const remaining = since + this.config.warningMs - this.clock.now();
    if (remaining > 0) await sleep(this.clock, remaining, signal);
  }

  private async setWarning(active: boolean): Promise<void> {
    if (active === (this.warningSince !== null)) return;
    this.warningSince = active ? this.clock.now() : null;
    await this.io.warning.write(active);
    this.events.emit('warning', { active, at: this.clock.now() });
  }

  /**
   * Waits for the movement to end; one that ran out of travel time without reaching a limit switch is a fault (a dead
   * reed switch or a jam): pressing again could send a door that did arrive, unseen, back the other way.
   */
  private async arriveOrGiveUp(ctx: ActiveCommand): Promise<void> {
    const obstructions = this.obstructionCount;
    await this.waitArrival(ctx);
    if (this.state === 'stopped' && this.travelTimedOut && this.obstructionCount === obstructions) {
      this.giveUp(`the door ran its full travel time without reaching a limit switch (${ctx.action}); check the reed switches and the door`, 'no-movement');
    }
  }

  /** After a press from mid-travel: the door must reach an end within the travel time, or something is wrong. */
  private async limitOrGiveUp(ctx: ActiveCommand): Promise<void> {
    const obstructions = this.obstructionCount;
    if (await this.waitUntil(ctx, () => this.atLimitOrFault(), this.config.travelTimeoutMs)) return;
    if (this.obstructionCount !== obstructions) return;
    this.giveUp(`the door did not reach either limit switch within the travel time after a press from mid-travel (${ctx.action}); check the reed switches and the door`, 'no-movement');
  }

  private waitArrival(ctx: ActiveCommand): Promise<boolean> {
    // The travel timer turns a movement that never arrives into `stopped`, so this ends.
    return this.waitUntil(ctx, () => !isMoving(this.state), this.config.travelTimeoutMs + 1000);
  }

  private waitUntil(ctx: ActiveCommand, predicate: () => boolean, timeoutMs: number): Promise<boolean> {
    if (predicate()) return Promise.resolve(true);
    const signal = ctx.abort.signal;
    return new Promise<boolean>((resolve, reject) => {
      const finish = (): void => {
        this.waiters.delete(check);
        this.clock.clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
      };
      const check = (): void => {
        if (signal.aborted) return onAbort();
        if (!predicate()) return;
        finish();
        resolve(true);
      };
      const onAbort = (): void => {
        finish();
        reject(signal.reason as Error);
      };
      const timer = this.clock.setTimeout(() => {
        finish();
        resolve(predicate());
      }, timeoutMs);
      this.waiters.add(check);
      signal.addEventListener('abort', onAbort, { once: true });
      if (signal.aborted) onAbort();
    });
  }

  private onSwitches(force = false): void {
    if (!this.closedSw || !this.openSw) return;
    if (this.latchedFault === 'no-movement' && this.closedSw.read() !== this.openSw.read()) {
      this.log.info('a limit switch made again after a movement that reached neither end; fault cleared');
      this.latchedFault = null;
      force = true;
    }
    if (this.latchedFault !== null) return;
    const previous = this.state;
    const next = deriveState(this.closedSw.read(), this.openSw.read(), previous);
    if (next === previous && !force) return;
    let cause: MovementCause;
    if (isMoving(next) && !isMoving(previous)) {
      this.movementCause = this.active?.cause ?? WALL_BUTTON;
      cause = this.movementCause;
    } else if (isMoving(previous)) {
      cause = this.movementCause;
    } else if (previous === 'unknown' || previous === 'fault') {
      cause = this.active?.cause ?? UNKNOWN_CAUSE;
    } else {
      cause = this.active?.cause ?? WALL_BUTTON;
    }
    this.setState(next, cause, force);
    if (next === 'fault') this.reportFault('both-limits', 'both limit switches report made; check the reed switches and wiring');
  }

  private onBeam(active: boolean): void {
    const state = this.state;
    const cause = isMoving(state) ? this.movementCause : null;
    const during = state === 'closing' || state === 'opening' ? state : 'idle';
    const reversed = active && state === 'closing';
    // A close that has pressed may have the door coming down while the state cannot say so (from stopped or unknown,
    // or the instant after the press): a beam break then counts against the close as well, so it is not pressed again,
    // and it is reported as during the close, which is what the hub's workflow acts on.
    const againstClose = active && this.active?.action === 'close' && this.active.presses > 0 && state !== 'closed';
    this.events.emit('obstruction', { active, during: againstClose ? 'closing' : during, reversed, state, cause, at: this.clock.now() });
    if (reversed || againstClose) this.obstructionCount++;
    if (reversed) {
      this.log.warn({ cause }, 'beam broken while closing; the opener reverses');
      // UL 325 openers must reverse on a broken beam while closing; the reversal keeps the
      // ids of the movement it interrupted.
      this.movementCause = { ...this.movementCause, kind: 'obstruction-reversal' };
      this.setState('opening', this.movementCause);
    }
    this.notify();
  }

  private setState(next: DoorState, cause: MovementCause, forceEmit = false): void {
    const previous = this.state;
    if (next === previous && !forceEmit) return;
    this.state = next;
    this.clearTravelTimer();
    if (isMoving(next)) {
      this.travelTimedOut = false;
      this.travelTimer = this.clock.setTimeout(() => {
        this.travelTimer = undefined;
        if (!isMoving(this.state)) return;
        this.travelTimedOut = true;
        this.setState('stopped', this.movementCause);
      }, this.config.travelTimeoutMs);
    }
    this.events.emit('stateChanged', { state: next, previous, cause, at: this.clock.now() });
    this.notify();
  }

  private notify(): void {
    for (const wake of [...this.waiters]) wake();
  }

  private clearTravelTimer(): void {
    if (this.travelTimer !== undefined) this.clock.clearTimeout(this.travelTimer);
    this.travelTimer = undefined;
  }

  /**
   * Whether a press now could start the door downwards. Reed switches cannot see a stop between
   * the ends: an "opening" door may already stand still with the opener's next move down, and
   * "closing" is also what a dead open switch looks like on a door resting open. Only a press
   * from the closed switch cannot start a close.
   */
  private pressMayStartClose(): boolean {
    return this.state !== 'closed';
  }

  /** Read through a call so TypeScript does not keep a narrowing across awaits. */
  private current(): DoorState {
    return this.state;
  }

  private atLimitOrFault(): boolean {
    return this.state === 'closed' || this.state === 'open' || this.state === 'fault';
  }

  private guardRounds(ctx: ActiveCommand, round: number): void {
    // Each round presses or waits a bounded time; this caps pathological sensor churn.
    if (round > this.config.maxPresses * 4 + 4) this.giveUp(`the door state kept changing without reaching the target (${ctx.action})`);
  }

  /**
   * Latches a fault and ends the command. `no-movement` (a movement that reached no limit switch in its travel time:
   * stopped by hand midway, jammed, or a dead reed switch) clears itself when exactly one limit switch makes again,
   * which shows the switches work and where the door is; `gave-up` waits for clearFault().
   */
  private giveUp(message: string, reason: 'gave-up' | 'no-movement' = 'gave-up'): never {
    this.latchedFault = reason;
    this.setState('fault', this.active?.cause ?? UNKNOWN_CAUSE);
    this.reportFault(reason, message);
    const next = reason === 'no-movement' ? 'it clears when the door is next seen at either end' : 'inspect the door, then clear the fault';
    throw new KeywayError(ErrorCode.DoorFault, `${message}; ${next}`, { details: { reason } });
  }

  private reportFault(reason: FaultReason, message: string): void {
    this.log.error({ reason }, message);
    this.events.emit('fault', { reason, message, at: this.clock.now() });
  }

  private throwIfFault(): void {
    if (this.state !== 'fault') return;
    throw new KeywayError(ErrorCode.DoorFault, `door is in fault (${this.latchedFault ?? 'sensors disagree'}); inspect the door and sensors, then clear the fault`, {
      details: { reason: this.latchedFault ?? 'both-limits' },
    });
  }

  private throwIfObstructed(): void {
    if (!this.obstructed) return;
    throw new KeywayError(ErrorCode.CommandRejected, 'the photo-eye beam is broken; clear the doorway and send close again', {
      details: { reason: 'obstructed' },
    });
  }

  private result(ctx: ActiveCommand, outcome: CommandResult['outcome']): CommandResult {
    return { outcome, state: this.state, presses: ctx.presses };
  }
}
