import { createHash } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import {
  ErrorCode,
  KeywayError,
  MAX_EVENT_BYTES,
  dedupKey,
  describeError,
  eventJson,
  isKeywayError,
  type EventEnvelope,
  type Logger,
} from '@keyway/shared';
import type { DeprecationNotice, PublishEntryResult } from '@keyway/shared/client';
import type { AppendInput, BusStore } from '../storage/types.js';
import type { GroupCommit } from './group-commit.js';
import type { BusMetrics } from './metrics.js';
import type { EventValidator } from './types.js';

/** PutEvents' limits, which Keyway keeps. */
export const MAX_BATCH_ENTRIES = 10;
export const MAX_BATCH_BYTES = MAX_EVENT_BYTES;

export interface Detection {
  kind: 'publish' | 'subscribe';
  account?: string;
  eventType?: string;
  detail: string;
}

export interface IngestDeps {
  store: BusStore;
  validator: EventValidator;
  commit: GroupCommit;
  metrics: BusMetrics;
  log: Logger;
  clock: () => number;
  route: (event: EventEnvelope) => string[];
  detect: (d: Detection) => void;
  appended: (subscribers: ReadonlySet<string>) => void;
}

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

type Rejection = Extract<PublishEntryResult, { status: 'rejected' }>;

function rejection(error: unknown, raw?: unknown): Rejection {
  const e = isKeywayError(error)
    ? error
    : new KeywayError(ErrorCode.Internal, `the entry could not be processed: ${describeError(error)}`);
  const r: Rejection = { status: 'rejected', error: { code: e.code, message: e.message } };
  if (Object.keys(e.details).length > 0) r.error.details = e.details;
  if (raw !== null && typeof raw === 'object') {
    const { id, source } = raw as { id?: unknown; source?: unknown };
    if (typeof id === 'string') r.id = id;
    if (typeof source === 'string') r.source = source;
  }
  return r;
}

/** Whether two stored envelopes are the same event (the same fields and values, in any key order). */
function sameEvent(storedJson: string, newJson: string): boolean {
  return storedJson === newJson || isDeepStrictEqual(JSON.parse(storedJson), JSON.parse(newJson));
}

function entryBytes(entry: unknown): number {
  if (typeof entry === 'string') return Buffer.byteLength(entry);
  try {
    return Buffer.byteLength(JSON.stringify(entry) ?? '');
  } catch {
    // Too deep to serialize: validation refuses this entry on its own (eventJson), the others still go through.
    // The HTTP body that carried it is already bounded by the API's body limit.
    return 0;
  }
}

const KEY_CACHE_MS = 5_000;

/**
 * The ingest pipeline: authenticate -> authorize -> validate -> dedup + append + enqueue -> ack.
 * Every entry gets its own result; a bad entry never fails the others and never throws.
 */
export class Ingest {
  private readonly keyCache = new Map<string, { account: string; until: number }>();

  constructor(private readonly deps: IngestDeps) {}

  async authenticate(credential: string): Promise<string | undefined> {
    const hash = hashApiKey(credential);
    const now = this.deps.clock();
    const cached = this.keyCache.get(hash);
    if (cached && cached.until > now) return cached.account;
    const account = await this.deps.store.accountForKey(hash);
    if (account === undefined) {
      this.keyCache.delete(hash);
      return undefined;
    }
    if (this.keyCache.size > 10_000) this.keyCache.clear();
    this.keyCache.set(hash, { account, until: now + KEY_CACHE_MS });
    return account;
  }

  forgetKey(credential: string): void {
    this.keyCache.delete(hashApiKey(credential));
  }

  /** Publishes with an API key (the HTTP path); refused entries are logged in one line per call. */
  async publish(credential: string, entries: readonly unknown[]): Promise<PublishEntryResult[]> {
    const { account, results } = await this.publishWithKey(credential, entries);
    this.logRefusals(results, account);
    return results;
  }

  private async publishWithKey(credential: string, entries: readonly unknown[]): Promise<{ account?: string; results: PublishEntryResult[] }> {
    const batchError = this.checkBatch(entries);
    if (batchError) return { results: this.rejectAll(entries, batchError) };
    let account: string | undefined;
    try {
      account = await this.authenticate(credential);
    } catch (error) {
      return { results: this.rejectAll(entries, error) };
    }
    if (account === undefined) {
      this.deps.detect({ kind: 'publish', detail: 'publish with an unknown or revoked API key' });
      const unknown = new KeywayError(ErrorCode.Unauthenticated, 'the API key is unknown or revoked; ask the platform team for a key for your account');
      return { results: this.rejectAll(entries, unknown) };
    }
    return { account, results: await this.ingest(account, entries) };
  }

  /** One warn line naming the refused entries (the first ten in full) and their codes; nothing when all went in. */
  private logRefusals(results: readonly PublishEntryResult[], account: string | undefined): void {
    const refused = results.flatMap((r, index) => (r.status === 'rejected' ? [{ index, code: r.error.code, id: r.id, message: r.error.message }] : []));
    if (refused.length === 0) return;
    const codes = [...new Set(refused.map((r) => r.code))].join(', ');
    this.deps.log.warn({ account, refused: refused.length, of: results.length, entries: refused.slice(0, 10) }, `published entries refused: ${codes}`);
  }

  /**
   * Publishes as an already authenticated account (in-process clients, the gateway, the bus
   * itself). The 10-entry limit holds; the 256 KB batch limit is PutEvents' wire limit and is
   * checked on the HTTP path only (each event is still held to 256 KB by the registry), which
   * spares a serialization of every in-process event.
   */
  publishAs(account: string, entries: readonly unknown[]): Promise<PublishEntryResult[]> {
    const batchError = this.checkBatch(entries, false);
    if (batchError) return Promise.resolve(this.rejectAll(entries, batchError));
    return this.ingest(account, entries);
  }

  private async ingest(account: string, entries: readonly unknown[]): Promise<PublishEntryResult[]> {
    const { metrics } = this.deps;

    const results: PublishEntryResult[] = new Array<PublishEntryResult>(entries.length);
    const toAppend: { index: number; input: AppendInput; event: EventEnvelope; deprecated: DeprecationNotice | undefined }[] = [];
    entries.forEach((raw, index) => {
      try {
        const { event, schema } = this.deps.validator.validateEvent(raw, new Date(this.deps.clock()));
        if (schema.meta.owner !== account) {
          this.deps.detect({
            kind: 'publish',
            account,
            eventType: event.type,
            detail: `account ${account} does not own ${event.type}`,
          });
          throw new KeywayError(
            ErrorCode.Unauthorized,
            `account ${account} may not publish ${event.type}; only its owner ${schema.meta.owner} may`,
            { details: { account, type: event.type } },
          );
        }
        const subscribers = this.deps.route(event);
        const { meta } = schema;
        toAppend.push({
          index,
          event,
          deprecated: meta.status === 'deprecated' && meta.sunset !== undefined ? { version: schema.version, sunset: meta.sunset, ...(meta.replacement ? { replacement: meta.replacement } : {}) } : undefined,
          input: {
            // Per publishing account: another account reusing this source and id (device event ids are predictable)
            // must not turn the real event into a "duplicate" that is acknowledged and never delivered.
            dedupKey: `${account}\u0000${dedupKey(event)}`,
            type: event.type,
            subject: event.subject ?? null,
            account,
            payload: eventJson(event),
            subscribers,
          },
        });
      } catch (error) {
        results[index] = rejection(error, typeof raw === 'string' ? safeParse(raw) : raw);
      }
    });

    if (toAppend.length > 0) {
      try {
        const outcomes = await this.deps.commit.append(toAppend.map((a) => a.input));
        const woken = new Set<string>();
        toAppend.forEach((a, i) => {
          const o = outcomes[i]!;
          if (o.duplicate && o.original !== undefined && !sameEvent(o.original, a.input.payload)) {
            // A redelivery repeats the event; this id was used before for another one (a reflashed device whose
            // sequence restarted, a client reusing ids). Accepting it as a duplicate would drop it without a word.
            this.deps.log.warn({ source: a.event.source, id: a.event.id, type: a.event.type, account: a.input.account }, 'event id reused with different content; refused');
            results[a.index] = rejection(
              new KeywayError(ErrorCode.Conflict, `event ${a.event.id} from ${a.event.source} was already published with different content; give this event a new id`, {
                details: { id: a.event.id, source: a.event.source },
              }),
              a.event,
            );
            return;
          }
          results[a.index] = {
            status: o.duplicate ? 'duplicate' : 'accepted',
            id: a.event.id,
            source: a.event.source,
            seq: o.seq,
            ...(a.deprecated ? { deprecated: a.deprecated } : {}),
          };
          if (!o.duplicate) for (const s of a.input.subscribers) woken.add(s);
        });
        if (woken.size > 0) this.deps.appended(woken);
      } catch (error) {
        this.deps.log.error({ err: describeError(error) }, 'appending to the bus log failed');
        const unavailable = new KeywayError(
          ErrorCode.Unavailable,
          'the bus log is unavailable; these events were not acknowledged, retry later (any that were stored come back as duplicates)',
          {
            cause: error,
          },
        );
        for (const a of toAppend) results[a.index] = rejection(unavailable, a.event);
      }
    }

    for (const r of results) {
      metrics.ingested.inc({ result: r.status });
      if (r.status === 'rejected') metrics.ingestErrors.inc({ code: r.error.code });
    }
    return results;
  }

  private checkBatch(entries: readonly unknown[], checkBytes = true): KeywayError | undefined {
    if (entries.length > MAX_BATCH_ENTRIES) {
      return new KeywayError(ErrorCode.BatchTooLarge, `a batch holds at most ${MAX_BATCH_ENTRIES} entries; split it`, {
        details: { entries: entries.length, limit: MAX_BATCH_ENTRIES },
      });
    }
    if (!checkBytes) return undefined;
    // An entry over the event limit is refused on its own (EVENT_TOO_LARGE); it does not make the batch too large.
    const bytes = entries.reduce<number>((sum, e) => {
      const size = entryBytes(e);
      return size > MAX_EVENT_BYTES ? sum : sum + size;
    }, 0);
    if (bytes > MAX_BATCH_BYTES) {
      return new KeywayError(
        ErrorCode.BatchTooLarge,
        `a batch holds at most ${MAX_BATCH_BYTES} bytes (256 KB); split it`,
        {
          details: { bytes, limit: MAX_BATCH_BYTES },
        },
      );
    }
    return undefined;
  }

  private rejectAll(entries: readonly unknown[], error: unknown): PublishEntryResult[] {
    const out = entries.map((raw) => rejection(error, typeof raw === 'string' ? safeParse(raw) : raw));
    for (const r of out) {
      this.deps.metrics.ingested.inc({ result: 'rejected' });
      this.deps.metrics.ingestErrors.inc({ code: r.error.code });
    }
    return out;
  }
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
