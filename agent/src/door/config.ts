import { ErrorCode, KeywayError } from '@keyway/shared';
import { DEFAULT_DOOR_CONFIG, type DoorControllerConfig } from './types.js';

const RANGES: Record<keyof DoorControllerConfig, [number, number]> = {
  pulseMs: [100, 2000],
  pressGapMs: [0, 10_000],
  warningMs: [5000, 60_000],
  startTimeoutMs: [100, 30_000],
  travelTimeoutMs: [1000, 120_000],
  maxPresses: [1, 10],
  obstructionRetries: [0, 3],
  beamDebounceMs: [0, 2000],
  switchDebounceMs: [0, 2000],
};

/** Fills defaults and refuses values outside safe ranges (notably a warning under 5 s). */
export function resolveDoorConfig(partial: Partial<DoorControllerConfig> = {}): DoorControllerConfig {
  const config = { ...DEFAULT_DOOR_CONFIG, ...partial };
  for (const key of Object.keys(RANGES) as Array<keyof DoorControllerConfig>) {
    const [min, max] = RANGES[key];
    const value = config[key];
    if (!Number.isFinite(value) || value < min || value > max) {
      throw new KeywayError(
        ErrorCode.ConfigInvalid,
        `door.${key} must be between ${min} and ${max} (got ${String(value)}); fix the agent config`,
        { details: { key, value, min, max } },
      );
    }
  }
  return config;
}
