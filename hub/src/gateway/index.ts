export { DeviceGateway } from './gateway.js';
export { hashDeviceToken, tokenMatches } from './device-auth.js';
export { mayPublish, maySubscribe, type TopicDecision } from './topic-policy.js';
export { KeyedTokenBuckets, type RateSpec } from './rate-limit.js';
export { mosquittoPasswordHash, renderMosquittoAcl, renderMosquittoPasswords } from './mosquitto.js';
export type * from './types.js';
export * as gatewayWire from '@keyway/shared/wire';
