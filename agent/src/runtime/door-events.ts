import type { DoorStateChangedV2Data, ObstructionDetectedV1Data, SensorFaultV1Data } from '@keyway/shared/generated';
import type { DoorEvents, MovementCause } from '../door/types.js';

/** Keypad openings run as door commands whose id carries this prefix, so the event can say `keypad`. */
export const KEYPAD_COMMAND_PREFIX = 'keypad:';

export function causeData(cause: MovementCause): DoorStateChangedV2Data['cause'] {
  const keypad = cause.commandId?.startsWith(KEYPAD_COMMAND_PREFIX) ?? false;
  return {
    kind: keypad ? 'keypad' : cause.kind,
    ...(cause.commandId !== undefined && !keypad ? { commandId: cause.commandId } : {}),
    ...(cause.grantId !== undefined ? { grantId: cause.grantId } : {}),
    ...(cause.holder !== undefined ? { holder: cause.holder } : {}),
  };
}

export function doorStateChanged(deviceId: string, e: DoorEvents['stateChanged'], at: string): DoorStateChangedV2Data {
  return { deviceId, state: e.state, previous: e.previous, at, cause: causeData(e.cause) };
}

export function obstructionDetected(deviceId: string, e: DoorEvents['obstruction'], at: string): ObstructionDetectedV1Data {
  const during = e.state === 'closing' || e.state === 'opening' ? e.state : 'idle';
  // Openers reverse on a broken beam while closing; that is what the controller reports as state afterwards.
  return { deviceId, during, reversed: during === 'closing', at };
}

export function sensorFault(deviceId: string, e: DoorEvents['fault'], at: string): SensorFaultV1Data {
  switch (e.reason) {
    case 'both-limits':
      return { deviceId, sensor: 'closed-limit', fault: 'both-limits', detail: e.message.slice(0, 500), at };
    case 'gave-up':
    case 'no-movement':
      return { deviceId, sensor: 'relay', fault: 'no-movement', detail: e.message.slice(0, 500), at };
  }
}
