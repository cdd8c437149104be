import { TOPIC_ROOT, isValidDeviceId, parseDeviceTopic } from '@keyway/shared';

/** What a device may publish under its own prefix: its outbox, command results, presence and shadow. */
const PUBLISH_SUFFIXES = new Set(['up/events', 'up/cmd-result', 'status', 'state']);
/** What a device may subscribe to under its own prefix. */
const SUBSCRIBE_SUFFIXES = new Set(['down/ack', 'down/cmd', 'down/grants', 'down/#', 'down/+']);

export type TopicDecision = { allowed: true } | { allowed: false; reason: string };

function ownPrefix(deviceId: string): string {
  return `${TOPIC_ROOT}/${deviceId}/`;
}

/** A device may publish only `up/*`, `status` and `state` under `keyway/v1/d/<its id>/`. */
export function mayPublish(deviceId: string, topic: string): TopicDecision {
  if (topic.startsWith('$')) return { allowed: false, reason: `$-topics are reserved (${topic})` };
  if (!isValidDeviceId(deviceId)) return { allowed: false, reason: 'the client id is not a valid device id' };
  if (!topic.startsWith(ownPrefix(deviceId))) {
    return { allowed: false, reason: `device ${deviceId} may publish only under ${ownPrefix(deviceId)}, not ${topic}` };
  }
  const parsed = parseDeviceTopic(topic);
  if (!parsed || !PUBLISH_SUFFIXES.has(parsed.suffix)) {
    return { allowed: false, reason: `device ${deviceId} may not publish to ${topic}` };
  }
  return { allowed: true };
}

/** A device may subscribe only to `down/*` under `keyway/v1/d/<its id>/`; no wildcards above its own id. */
export function maySubscribe(deviceId: string, filter: string): TopicDecision {
  if (filter.startsWith('$')) return { allowed: false, reason: `$-topics and shared subscriptions are reserved (${filter})` };
  if (!isValidDeviceId(deviceId)) return { allowed: false, reason: 'the client id is not a valid device id' };
  const prefix = ownPrefix(deviceId);
  if (!filter.startsWith(prefix) || !SUBSCRIBE_SUFFIXES.has(filter.slice(prefix.length))) {
    return { allowed: false, reason: `device ${deviceId} may subscribe only to ${prefix}down/..., not ${filter}` };
  }
  return { allowed: true };
}
