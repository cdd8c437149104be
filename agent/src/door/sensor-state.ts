import type { DoorState } from './types.js';

/**
 * Derives the door state from the two reed switches and the previous state. Pure, so the rules
 * are tested on their own: both switches made is a sensor fault; one made is that end; neither
 * means the door is between the ends, moving away from the end it last left, or at an unknown
 * place if we never saw it at an end (e.g. right after a restart mid-movement).
 */
export function deriveState(closed: boolean, open: boolean, previous: DoorState): DoorState {
  if (closed && open) return 'fault';
  if (closed) return 'closed';
  if (open) return 'open';
  switch (previous) {
    case 'closed':
      return 'opening';
    case 'open':
      return 'closing';
    case 'opening':
    case 'closing':
    case 'stopped':
    case 'unknown':
      return previous;
    case 'fault':
      return 'unknown';
  }
}

export function isMoving(state: DoorState): state is 'opening' | 'closing' {
  return state === 'opening' || state === 'closing';
}
