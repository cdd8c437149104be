import type { EventEnvelope } from '@keyway/shared';
import type { EventType } from '@keyway/shared/generated';
import type {
  EventHandler,
  KeywayEvent,
  PublishEntryResult,
  Publisher,
  Subscriber,
  Subscription,
} from '@keyway/shared/client';
import type { Bus } from './bus.js';
import type { RetryPolicy } from './types.js';

export interface BusClientOptions {
  /** Applied to every subscription made through this client. */
  retry?: RetryPolicy;
  concurrency?: number;
}

/**
 * The typed client library on the durable bus, for services inside the hub process: publishes as
 * `account`, subscribes with in-process handlers (each subscription is a declared subscriber).
 */
export class BusClient implements Publisher, Subscriber {
  constructor(
    private readonly bus: Bus,
    private readonly account: string,
    private readonly options: BusClientOptions = {},
  ) {}

  publish(events: readonly EventEnvelope[]): Promise<PublishEntryResult[]> {
    return this.bus.publishAs(this.account, events);
  }

  async subscribe<T extends EventType>(
    options: { name: string; types: readonly T[]; pattern?: Record<string, unknown> },
    handler: EventHandler<T>,
  ): Promise<Subscription> {
    const { name } = options;
    await this.bus.declareSubscriber({
      name,
      account: this.account,
      types: options.types,
      ...(options.pattern ? { patterns: [options.pattern] } : {}),
      // events were validated against their schema at ingest, so the typed view is sound
      target: { kind: 'handler', handler: (event, ctx) => handler(event as KeywayEvent<T>, ctx) },
      ...(this.options.retry ? { retry: this.options.retry } : {}),
      ...(this.options.concurrency ? { concurrency: this.options.concurrency } : {}),
    });
    return {
      name,
      unsubscribe: async () => {
        await this.bus.removeSubscriber(name);
      },
    };
  }
}
