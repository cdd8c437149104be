/** Device MQTT topics: `keyway/v1/d/<deviceId>/...`, at most 7 slashes (AWS IoT Core's limit), never `$`-prefixed. */
export const TOPIC_ROOT = 'keyway/v1/d';

export const DeviceTopic = {
  upEvents: 'up/events',
  upCmdResult: 'up/cmd-result',
  downAck: 'down/ack',
  downCmd: 'down/cmd',
  downGrants: 'down/grants',
  status: 'status',
  state: 'state',
} as const;
export type DeviceTopic = (typeof DeviceTopic)[keyof typeof DeviceTopic];

const DEVICE_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

export function isValidDeviceId(deviceId: string): boolean {
  return DEVICE_ID.test(deviceId);
}

export function deviceTopic(deviceId: string, topic: DeviceTopic): string {
  if (!isValidDeviceId(deviceId)) throw new Error(`invalid device id ${JSON.stringify(deviceId)}`);
  return `${TOPIC_ROOT}/${deviceId}/${topic}`;
}

/** Splits a device topic into its device id and suffix, or returns undefined when it is not one. */
export function parseDeviceTopic(topic: string): { deviceId: string; suffix: string } | undefined {
  const prefix = `${TOPIC_ROOT}/`;
  if (!topic.startsWith(prefix)) return undefined;
  const rest = topic.slice(prefix.length);
  const slash = rest.indexOf('/');
  if (slash <= 0) return undefined;
  const deviceId = rest.slice(0, slash);
  if (!isValidDeviceId(deviceId)) return undefined;
  return { deviceId, suffix: rest.slice(slash + 1) };
}
