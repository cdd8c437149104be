import type { FastifyRequest } from 'fastify';
import { ErrorCode, KeywayError } from '@keyway/shared';
import type { SchemaRegistry } from '@keyway/shared/registry';
import type { Bus } from '../bus/bus.js';
import type { SecretBox } from '../bus/secret-box.js';
import type { BusStore } from '../storage/types.js';
import type { AccessService } from '../services/access.js';
import type { DeliveryService } from '../services/delivery.js';
import type { HubStateStore } from '../state/types.js';
import type { Registry } from 'prom-client';
import { forbidden } from './errors.js';

/** Everything the routes use; the hub builds it once. */
export interface ApiContext {
  bus: Bus;
  busStore: BusStore;
  registry: SchemaRegistry;
  state: HubStateStore;
  access: AccessService;
  delivery: DeliveryService;
  /** Extra Prometheus registries to serve at /metrics besides the bus's (gateway, ...). */
  metrics: Registry[];
  /** Readiness of the parts the hub depends on (store, broker). */
  ready: () => Promise<{ ready: boolean; checks: Record<string, boolean> }>;
  /** The administrator account, allowed everything. */
  platformAccount: string;
  /** Seals what the API stores that holds secrets (idempotent responses carry API keys and device tokens). */
  secretBox: SecretBox;
}

declare module 'fastify' {
  interface FastifyRequest {
    account: string | undefined;
  }
}

export function accountOf(request: FastifyRequest): string {
  if (!request.account) throw new KeywayError(ErrorCode.Unauthenticated, 'send an API key in the x-api-key header (or Authorization: Bearer <key>)');
  return request.account;
}

/** The caller's account, which must be one of `allowed` (the platform account always is). */
export function requireAccount(ctx: ApiContext, request: FastifyRequest, allowed: readonly string[], what: string): string {
  const account = accountOf(request);
  if (account !== ctx.platformAccount && !allowed.includes(account)) throw forbidden(account, what);
  return account;
}

export const pageQuery = {
  type: 'object',
  properties: {
    limit: { type: 'integer', minimum: 1, maximum: 500, default: 50 },
    after: { type: 'string', maxLength: 256 },
  },
} as const;

export interface PageQuery {
  limit: number;
  after?: string;
}

/** `{ items, next }` where `next` is the cursor for the following page, or null on the last one. */
export function paged<T>(items: T[], limit: number, cursor: (item: T) => string): { items: T[]; next: string | null } {
  const last = items[items.length - 1];
  return { items, next: items.length === limit && last !== undefined ? cursor(last) : null };
}

/**
 * Milliseconds for a body's date-time field. The schema's `format: date-time` admits what Date.parse cannot read
 * (a leap second, 23:59:60), which would otherwise reach the services as NaN and fail with a misleading message.
 */
export function timeField(name: string, value: string): number {
  const ms = Date.parse(value);
  if (!Number.isFinite(ms)) {
    throw new KeywayError(ErrorCode.InvalidInput, `${name} ${JSON.stringify(value)} is not a time the hub can read; use an ISO time such as 2026-11-28T10:00:00Z`, {
      details: { issues: [{ path: `/${name}`, message: 'not a readable time' }] },
    });
  }
  return ms;
}

/** Webhooks are called over HTTP(S) only: a file:, ftp: or javascript: URL is refused. */
export const httpUrl = { type: 'string', format: 'uri', pattern: '^https?://', maxLength: 2048 } as const;
