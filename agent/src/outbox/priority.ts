import type { EventType } from '@keyway/shared/generated';

/**
 * Priority classes of outbox rows. Only `telemetry` may be dropped when the outbox is full;
 * `critical` rows are committed with fsync (power-loss safe) and never dropped.
 */
export const Priority = { telemetry: 0, normal: 1, critical: 2 } as const;
export type Priority = (typeof Priority)[keyof typeof Priority];

const CLASS_OF: Partial<Record<EventType, Priority>> = {
  'keyway.device.Heartbeat': Priority.telemetry,
  'keyway.device.KeypadEntry': Priority.normal,
  'keyway.device.EventsDropped': Priority.normal,
  'keyway.device.SensorFault': Priority.normal,
};

/** Access, door and command events are critical unless listed otherwise: safe by default for new types. */
export function priorityOf(type: EventType): Priority {
  return CLASS_OF[type] ?? Priority.critical;
}
