import type { DigitalInput, DigitalOutput } from '../hal/types.js';

export type DoorState = 'closed' | 'opening' | 'open' | 'closing' | 'stopped' | 'unknown' | 'fault';

/** Matches `cause.kind` of DoorStateChanged v2 (schemas/device/DoorStateChanged.v2.json). */
export type CauseKind = 'command' | 'auto-close' | 'wall-button' | 'keypad' | 'obstruction-reversal' | 'unknown';

/** Who or what moved the door: the `cause` of a DoorStateChanged v2 event, field for field. */
export interface MovementCause {
  kind: CauseKind;
  commandId?: string;
  grantId?: string;
  holder?: string;
}

/** The cause a command carries: a remote command, a keypad PIN, or an auto-close policy. */
export type CommandCause = MovementCause & { kind: 'command' | 'auto-close' | 'keypad' };

export type FaultReason = 'both-limits' | 'gave-up' | 'no-movement';

export interface DoorEvents {
  [key: string]: unknown;
  stateChanged: { state: DoorState; previous: DoorState; cause: MovementCause; at: number };
  /** `during` and `reversed` match ObstructionDetected v1; `active: false` is the beam clearing. */
  obstruction: { active: boolean; during: 'closing' | 'opening' | 'idle'; reversed: boolean; state: DoorState; cause: MovementCause | null; at: number };
  fault: { reason: FaultReason; message: string; at: number };
  warning: { active: boolean; at: number };
  relayPulse: { at: number; cause: CommandCause };
}

/** The lines a door controller drives and reads, opened from any GpioBinding. */
export interface DoorIo {
  relay: DigitalOutput;
  /** Warning light and/or buzzer, active while an unattended close is imminent or running. */
  warning: DigitalOutput;
  /** Reed switch made when the door is fully closed. */
  closedSwitch: DigitalInput;
  /** Reed switch made when the door is fully open. */
  openSwitch: DigitalInput;
  /** Photo-eye: active when the beam is broken. */
  beam: DigitalInput;
}

export type CommandOutcome = 'completed' | 'already' | 'obstructed' | 'stopped';

export interface CommandResult {
  outcome: CommandOutcome;
  state: DoorState;
  /** Relay presses this command made. */
  presses: number;
}

export interface DoorControllerConfig {
  /** Relay closure length in ms. 100-2000, default 500 (openers want 300-1000). */
  pulseMs: number;
  /** Pause after a press before the next one, ms. Default 1000 (openers ignore rapid presses). */
  pressGapMs: number;
  /** Warning before any press that can start a close, ms. At least 5000 (16 CFR 1211.14), default 5000. */
  warningMs: number;
  /** A limit switch must release this soon after a press from that limit, ms. Default 3000. */
  startTimeoutMs: number;
  /** Longest a full travel may take before the door is deemed stopped, ms. Default 20000. */
  travelTimeoutMs: number;
  /** Relay presses one command may make before giving up with `fault`. 1-10, default 4. */
  maxPresses: number;
  /** Times a close is retried after an obstruction reversed it. 0-3, default 0. */
  obstructionRetries: number;
  /** Photo-eye debounce, ms. Default 100. */
  beamDebounceMs: number;
  /** Reed-switch debounce, ms. Default 50. */
  switchDebounceMs: number;
}

export const DEFAULT_DOOR_CONFIG: DoorControllerConfig = {
  pulseMs: 500,
  pressGapMs: 1000,
  warningMs: 5000,
  startTimeoutMs: 3000,
  travelTimeoutMs: 20_000,
  maxPresses: 4,
  obstructionRetries: 0,
  beamDebounceMs: 100,
  switchDebounceMs: 50,
};
