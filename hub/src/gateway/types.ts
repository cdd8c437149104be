import type { Logger } from '@keyway/shared';
import type { PublishEntryResult } from '@keyway/shared/client';
import type { RateSpec } from './rate-limit.js';
import type { RefusedEventRecord } from '../state/types.js';

/** What the gateway needs from the device registry; the lead's `HubStateStore` satisfies it as is. */
export interface DeviceDirectory {
  getDevice(id: string): Promise<{ id: string; tokenHash: string; vendor: string } | undefined>;
  setDeviceOnline(id: string, online: boolean, at: number): Promise<void>;
  /** Optional: many presence changes in one transaction; used when present (connect storms). */
  setDevicesOnline?(changes: readonly { id: string; online: boolean; at: number }[]): Promise<void>;
  setDeviceReported(id: string, reported: Record<string, unknown>, at: number): Promise<void>;
  /** Keeps device events refused for good, with their bodies, before they are acknowledged; returns how many were trimmed. */
  keepRefusedEvents(rows: readonly RefusedEventRecord[]): Promise<number>;
}

/** What the gateway needs from the bus; `Bus` satisfies it as is. */
export interface GatewayBus {
  publishAs(account: string, entries: readonly unknown[]): Promise<PublishEntryResult[]>;
}

export interface EmbeddedTls {
  port: number;
  /** PEM text. */
  key: string | Buffer;
  cert: string | Buffer;
  ca?: string | Buffer;
  /**
   * Ask devices for a client certificate. One that `ca` verifies identifies the device by its CN (= device id), so
   * the token becomes optional; devices without one still log in with their token. Default false.
   */
  requestCert?: boolean;
}

export type TransportSpec =
  /** aedes in this process; port 0 picks an ephemeral one (read it back from `gateway.address`). */
  | { kind: 'embedded'; port: number; host?: string; tls?: EmbeddedTls }
  /** An external broker (mosquitto, EMQX, NATS MQTT) that enforces per-device ACLs itself. */
  | {
      kind: 'external';
      url: string;
      username?: string;
      password?: string;
      /** Shared-subscription group, so each device message reaches one hub replica. Default none. */
      shareGroup?: string;
      clientId?: string;
      /** PEM text for mqtts. */
      ca?: string | Buffer;
    };

export interface GatewayLimits {
  /** Largest `up/events` payload. Default 1 MiB. */
  maxBatchBytes?: number;
  /** Most events in one batch. Default 500. */
  maxBatchEvents?: number;
  /** Largest other inbound payload (status, state, cmd-result). Default 64 KiB. */
  maxMessageBytes?: number;
  /** Inbound messages per device. Default 20/s, burst 60. */
  perDevice?: RateSpec;
  /** Inbound messages per vendor, all its devices together. Default 2,000/s, burst 5,000. */
  perVendor?: RateSpec;
  /** UnauthorizedExchangeDetected events per device. Default 1 per 10 s, burst 3. */
  detections?: RateSpec;
  /** Batches queued per device behind the one being stored; more are dropped. Default 8. */
  maxQueuedBatches?: number;
  /**
   * Batches of one vendor's devices processed at once (default 4); the rest wait their turn, so a vendor whose
   * devices flood the gateway slows only itself.
   */
  vendorConcurrency?: number;
}

export interface PresenceOptions {
  /** The devices' heartbeat interval. Default 30 s. */
  heartbeatIntervalMs?: number;
  /** Intervals without any message before a device counts as offline. Default 3. */
  missedHeartbeats?: number;
}

/**
 * Signs hub time for a device with the time nonce the device last sent (if any), e.g.
 * `(t, aud, nonce) => signTime({ t, aud, ...(nonce !== undefined ? { nonce } : {}) }, hubPrivateKey)`.
 */
export type TimeSigner = (t: number, deviceId: string, nonce?: string) => Promise<string>;

export interface DeviceGatewayOptions {
  bus: GatewayBus;
  devices: DeviceDirectory;
  transport: TransportSpec;
  /** When set, every ack and grants message carries hub-signed time. */
  signTime?: TimeSigner;
  /** The account device events are published as (owner of keyway.device.*). Default `device-gateway`. */
  account?: string;
  /** The account UnauthorizedExchangeDetected is published as (its owner). Default `platform`. */
  platformAccount?: string;
  limits?: GatewayLimits;
  presence?: PresenceOptions;
  clock?: () => number;
  logger?: Logger;
}

export interface CommandResult {
  deviceId: string;
  result:
    | { commandId: string; status: 'ok'; data: { action: string; outcome: string; state: string }; at: string }
    | { commandId: string; status: 'error'; error: { code: string; reason: string; message: string }; at: string };
}
