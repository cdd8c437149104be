import type { Clock, TimerHandle } from '../clock.js';
import type { Level, SimGpioChip } from '../gpio/sim-chip.js';

/**
 * A single-button garage door opener with physics. One press toggles
 * open -> stop -> close -> stop -> open; reed switches report the two ends; a photo-eye
 * reverses a closing door. Position runs from 0 (closed) to 1 (open) and is computed from
 * time, so the simulation needs one timer per movement instead of a ticking loop.
 */
export type Motion = 'up' | 'down' | 'still';

export type DoorFaultKind =
  | 'stuck-relay'
  | 'dead-closed-sensor'
  | 'dead-open-sensor'
  | 'both-limits'
  | 'jam'
  | 'flapping-beam'
  | 'power-loss';

export type PressEffect = 'start-up' | 'start-down' | 'stop' | 'ignored-stuck-relay' | 'ignored-jam' | 'ignored-unpowered' | 'refused-obstruction';

export interface PressRecord {
  at: number;
  source: 'relay' | 'wall-button';
  effect: PressEffect;
  /** When the photo-eye beam became broken, if it is broken at the press. */
  obstructedSince: number | null;
  /** When the warning light/buzzer came on, if it is on at the press. */
  warningSince: number | null;
  /** Door position at the press, 0 closed to 1 open. */
  position: number;
}

export interface DoorPins {
  relay: number;
  warning: number;
  closedSwitch: number;
  openSwitch: number;
  beam: number;
}

export interface SimGarageDoorOptions {
  chip: SimGpioChip;
  clock: Clock;
  pins: DoorPins;
  /** Full travel time, closed to open, in clock ms. Default 12000. */
  travelMs?: number;
  /** Starting position, 0 closed to 1 open. Default 0. */
  position?: number;
  /** Relay board energises on a low level. Default false. */
  relayActiveLow?: boolean;
  /** Sensors (reed switches, beam) pull the line low when active. Default false. */
  sensorsActiveLow?: boolean;
  /** Fraction of travel from each end within which a reed switch is made. Default 0.01. */
  limitBand?: number;
  /** Half-period of the flapping-beam fault in clock ms. Default 15. */
  flapMs?: number;
}

export class SimGarageDoor {
  readonly travelMs: number;
  readonly presses: PressRecord[] = [];
  private readonly chip: SimGpioChip;
  private readonly clock: Clock;
  private readonly pins: DoorPins;
  private readonly relayActiveLow: boolean;
  private readonly sensorsActiveLow: boolean;
  private readonly band: number;
  private readonly flapMs: number;
  private readonly faults = new Set<DoorFaultKind>();
  private pos: number;
  private motion: Motion = 'still';
  private lastMotion: Motion = 'down';
  private motionStartAt = 0;
  private motionStartPos = 0;
  private moveTimers: TimerHandle[] = [];
  private flapTimer: TimerHandle | undefined;
  private flapState = false;
  private obstructed = false;
  private obstructedSince: number | null = null;
  private warningSince: number | null = null;
  private relayEnergised = false;
  private unsubscribers: Array<() => void> = [];

  constructor(options: SimGarageDoorOptions) {
    this.chip = options.chip;
    this.clock = options.clock;
    this.pins = options.pins;
    this.travelMs = options.travelMs ?? 12_000;
    this.pos = clamp(options.position ?? 0);
    this.relayActiveLow = options.relayActiveLow ?? false;
    this.sensorsActiveLow = options.sensorsActiveLow ?? false;
    this.band = options.limitBand ?? 0.01;
    this.flapMs = options.flapMs ?? 15;
    this.lastMotion = this.pos >= 0.5 ? 'up' : 'down';
    this.unsubscribers.push(
      this.chip.onLevel(this.pins.relay, (level) => this.onRelayLevel(level)),
      this.chip.onLevel(this.pins.warning, (level) => this.onWarningLevel(level)),
    );
    this.relayEnergised = this.isRelayLevelActive(this.chip.level(this.pins.relay));
    this.writeSensors();
  }

  get position(): number {
    return this.positionAt(this.clock.now());
  }

  get currentMotion(): Motion {
    return this.motion;
  }

  /** Fraction of travel from each end within which a reed switch is made. */
  get limitBand(): number {
    return this.band;
  }

  get isObstructed(): boolean {
    return this.obstructed;
  }

  hasFault(kind: DoorFaultKind): boolean {
    return this.faults.has(kind);
  }

  /** Relay presses the opener saw (wall-button presses excluded). */
  relayPressCount(): number {
    return this.presses.filter((p) => p.source === 'relay').length;
  }

  /** A person presses the wall button: same toggle, no relay involved. */
  pressWallButton(): PressEffect {
    return this.toggle('wall-button');
  }

  /** Something breaks (true) or clears (false) the photo-eye beam. */
  setObstruction(obstructed: boolean): void {
    if (this.obstructed === obstructed) return;
    this.obstructed = obstructed;
    this.obstructedSince = obstructed ? this.clock.now() : null;
    if (obstructed && this.motion === 'down') this.startMotion('up');
    this.writeSensors();
  }

  injectFault(kind: DoorFaultKind): void {
    if (this.faults.has(kind)) return;
    this.faults.add(kind);
    switch (kind) {
      case 'jam':
        this.halt();
        break;
      case 'power-loss':
        // The opener shares the supply: the motor stops with the controller.
        this.halt();
        this.chip.powerLoss();
        break;
      case 'flapping-beam':
        this.scheduleFlap();
        break;
      case 'stuck-relay':
      case 'dead-closed-sensor':
      case 'dead-open-sensor':
      case 'both-limits':
        break;
    }
    this.writeSensors();
  }

  clearFault(kind: DoorFaultKind): void {
    if (!this.faults.delete(kind)) return;
    if (kind === 'power-loss') this.chip.powerRestore();
    if (kind === 'flapping-beam') {
      if (this.flapTimer !== undefined) this.clock.clearTimeout(this.flapTimer);
      this.flapTimer = undefined;
      this.flapState = false;
    }
    this.writeSensors();
  }

  /** Releases every timer and chip listener. */
  dispose(): void {
    this.clearMoveTimers();
    if (this.flapTimer !== undefined) this.clock.clearTimeout(this.flapTimer);
    this.flapTimer = undefined;
    for (const u of this.unsubscribers) u();
    this.unsubscribers = [];
  }

  private onRelayLevel(level: Level): void {
    const energised = this.isRelayLevelActive(level);
    const wasEnergised = this.relayEnergised;
    this.relayEnergised = energised;
    if (this.faults.has('power-loss')) return;
    // The opener's wall-button input triggers when the contacts close.
    if (energised && !wasEnergised) this.toggle('relay');
  }

  private onWarningLevel(level: Level): void {
    const on = level === 1;
    if (on && this.warningSince === null) this.warningSince = this.clock.now();
    if (!on) this.warningSince = null;
  }

  private toggle(source: PressRecord['source']): PressEffect {
    const effect = this.decide(source);
    this.presses.push({
      at: this.clock.now(),
      source,
      effect,
      obstructedSince: this.obstructedSince,
      warningSince: this.warningSince,
      position: this.position,
    });
    switch (effect) {
      case 'start-up':
        this.startMotion('up');
        break;
      case 'start-down':
        this.startMotion('down');
        break;
      case 'stop':
        this.halt();
        break;
      case 'ignored-stuck-relay':
      case 'ignored-jam':
      case 'ignored-unpowered':
      case 'refused-obstruction':
        break;
    }
    return effect;
  }

  private decide(source: PressRecord['source']): PressEffect {
    if (this.faults.has('power-loss')) return 'ignored-unpowered';
    if (source === 'relay' && this.faults.has('stuck-relay')) return 'ignored-stuck-relay';
    if (this.faults.has('jam')) return 'ignored-jam';
    if (this.motion !== 'still') return 'stop';
    const pos = this.position;
    const next: Motion = pos >= 1 ? 'down' : pos <= 0 ? 'up' : this.lastMotion === 'up' ? 'down' : 'up';
    if (next === 'down' && this.obstructed) return 'refused-obstruction';
    return next === 'up' ? 'start-up' : 'start-down';
  }

  private positionAt(now: number): number {
    if (this.motion === 'still') return this.pos;
    const delta = (now - this.motionStartAt) / this.travelMs;
    return clamp(this.motionStartPos + (this.motion === 'up' ? delta : -delta));
  }

  private startMotion(direction: 'up' | 'down'): void {
    const now = this.clock.now();
    this.pos = this.positionAt(now);
    this.clearMoveTimers();
    this.motion = direction;
    this.lastMotion = direction;
    this.motionStartAt = now;
    this.motionStartPos = this.pos;
    const target = direction === 'up' ? 1 : 0;
    const remaining = Math.abs(target - this.pos) * this.travelMs;
    // One timer for leaving the limit band (the reed switch opens), one for arriving, where
    // the far switch closes.
    this.scheduleLeaveBand(direction);
    this.moveTimers.push(this.clock.setTimeout(() => this.arrive(target), remaining));
    this.writeSensors();
  }

  /** Opens the reed switch once the door has left the end band; re-arms if the timer fired early. */
  private scheduleLeaveBand(direction: 'up' | 'down'): void {
    const bandEdge = direction === 'up' ? this.band : 1 - this.band;
    const pos = this.position;
    const toEdge = (direction === 'up' ? bandEdge - pos : pos - bandEdge) * this.travelMs;
    if (toEdge < 0) return;
    this.moveTimers.push(
      this.clock.setTimeout(() => {
        this.writeSensors();
        if (this.motion === direction) this.scheduleLeaveBand(direction);
      }, toEdge + 1),
    );
  }

  private arrive(target: number): void {
    this.pos = target;
    this.motion = 'still';
    this.clearMoveTimers();
    this.writeSensors();
  }

  private halt(): void {
    this.pos = this.positionAt(this.clock.now());
    this.motion = 'still';
    this.clearMoveTimers();
    this.writeSensors();
  }

  private clearMoveTimers(): void {
    for (const t of this.moveTimers) this.clock.clearTimeout(t);
    this.moveTimers = [];
  }

  private scheduleFlap(): void {
    this.flapTimer = this.clock.setTimeout(() => {
      this.flapState = !this.flapState;
      this.writeSensors();
      if (this.faults.has('flapping-beam')) this.scheduleFlap();
    }, this.flapMs);
  }

  private writeSensors(): void {
    const pos = this.position;
    const both = this.faults.has('both-limits');
    const closed = both || (!this.faults.has('dead-closed-sensor') && pos <= this.band);
    const open = both || (!this.faults.has('dead-open-sensor') && pos >= 1 - this.band);
    const beam = this.faults.has('flapping-beam') ? this.obstructed || this.flapState : this.obstructed;
    // Releases before makes: a real door leaves one end long before it reaches the other, but a timer that runs late
    // (a busy machine) can find it already at the far end; driving the make first would show both ends made at once.
    const limits: Array<[number, boolean]> = [
      [this.pins.closedSwitch, closed],
      [this.pins.openSwitch, open],
    ];
    for (const [pin, made] of limits) if (!made) this.driveSensor(pin, made);
    for (const [pin, made] of limits) if (made) this.driveSensor(pin, made);
    this.driveSensor(this.pins.beam, beam);
  }

  private driveSensor(pin: number, active: boolean): void {
    this.chip.drive(pin, active !== this.sensorsActiveLow ? 1 : 0);
  }

  private isRelayLevelActive(level: Level): boolean {
    return (level === 1) !== this.relayActiveLow;
  }
}

function clamp(x: number): number {
  return Math.min(1, Math.max(0, x));
}
