import { dedupKey, type EventEnvelope } from '../envelope.js';
import { isKeywayError, ErrorCode } from '../errors.js';
import type { EventType } from '../generated/events.js';
import { createLogger } from '../log.js';
import { parseEvent, serializeEvent } from './serialize.js';
import type { EventHandler, KeywayEvent, PublishEntryResult, Publisher, Subscriber, Subscription } from './types.js';

interface LocalSubscription {
  name: string;
  types: ReadonlySet<string>;
  matches: (event: KeywayEvent) => boolean;
  handler: EventHandler;
}

/**
 * An in-process, non-durable Publisher/Subscriber: validation before publish, dedup on source+id, typed handlers.
 * For a single process (the agent's internal wiring, examples, unit tests). The hub's bus is the durable one.
 * A failing handler is logged and never affects other subscribers or the publisher.
 */
export class LocalBus implements Publisher, Subscriber {
  private readonly subscriptions = new Map<string, LocalSubscription>();
  private readonly seen = new Map<string, number>();
  private seq = 0;
  private readonly log = createLogger('local-bus');

  constructor(private readonly options: { patternMatcher?: (pattern: Record<string, unknown>, event: unknown) => boolean; dedupWindow?: number } = {}) {}

  publish(events: readonly EventEnvelope[]): Promise<PublishEntryResult[]> {
    const results = events.map((raw): PublishEntryResult => {
      let event: KeywayEvent;
      try {
        event = parseEvent(serializeEvent(raw));
      } catch (error) {
        const e = isKeywayError(error) ? error : undefined;
        return {
          status: 'rejected',
          id: raw.id,
          source: raw.source,
          error: { code: e?.code ?? ErrorCode.Internal, message: e?.message ?? String(error), details: e?.details ?? {} },
        };
      }
      const key = dedupKey(event);
      const previous = this.seen.get(key);
      if (previous !== undefined) return { status: 'duplicate', id: event.id, source: event.source, seq: previous };
      const seq = ++this.seq;
      this.remember(key, seq);
      this.dispatch(event);
      return { status: 'accepted', id: event.id, source: event.source, seq };
    });
    return Promise.resolve(results);
  }

  subscribe<T extends EventType>(
    options: { name: string; types: readonly T[]; pattern?: Record<string, unknown> },
    handler: EventHandler<T>,
  ): Promise<Subscription> {
    const { pattern } = options;
    const matcher = this.options.patternMatcher;
    if (pattern && !matcher) throw new Error('LocalBus was created without a pattern matcher; pass one to filter by pattern');
    this.subscriptions.set(options.name, {
      name: options.name,
      types: new Set(options.types),
      matches: pattern && matcher ? (event) => matcher(pattern, event) : () => true,
      handler: handler as EventHandler,
    });
    return Promise.resolve({
      name: options.name,
      unsubscribe: () => {
        this.subscriptions.delete(options.name);
        return Promise.resolve();
      },
    });
  }

  private remember(key: string, seq: number): void {
    this.seen.set(key, seq);
    const window = this.options.dedupWindow ?? 100_000;
    if (this.seen.size > window) {
      const oldest = this.seen.keys().next().value;
      if (oldest !== undefined) this.seen.delete(oldest);
    }
  }

  private dispatch(event: KeywayEvent): void {
    for (const sub of this.subscriptions.values()) {
      if (!sub.types.has(event.type) || !sub.matches(event)) continue;
      const context = { subscriber: sub.name, attempt: 1, dedupKey: dedupKey(event) };
      queueMicrotask(() => {
        Promise.resolve()
          .then(() => sub.handler(event, context))
          .catch((error: unknown) => this.log.error({ err: error, subscriber: sub.name, type: event.type, id: event.id }, 'subscriber handler failed'));
      });
    }
  }
}
