import type { FastifyInstance } from 'fastify';
import { ErrorCode, KeywayError } from '@keyway/shared';
import { MAX_BATCH_ENTRIES } from '../bus/ingest.js';
import { accountOf, type ApiContext } from './context.js';

/** PutEvents: up to 10 entries or 256 KB per call, one result per entry; a bad entry never fails the others. */
export function eventRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.post(
    '/v1/events',
    {
      schema: {
        tags: ['events'],
        summary: 'Publish up to 10 events (256 KB in all); returns one result per entry',
        body: { type: 'object', required: ['entries'], properties: { entries: { type: 'array', minItems: 1 } } },
      },
      bodyLimit: 1024 * 1024,
    },
    async (request) => {
      accountOf(request);
      const { entries } = request.body as { entries: unknown[] };
      if (entries.length > MAX_BATCH_ENTRIES) {
        throw new KeywayError(ErrorCode.BatchTooLarge, `a batch holds at most ${MAX_BATCH_ENTRIES} entries; this one has ${entries.length}. Split it.`, {
          details: { entries: entries.length, limit: MAX_BATCH_ENTRIES },
        });
      }
      const key = apiKeyOf(request.headers);
      const results = await ctx.bus.publish(key, entries);
      return { failedEntryCount: results.filter((r) => r.status === 'rejected').length, entries: results };
    },
  );
}

export function apiKeyOf(headers: Record<string, string | string[] | undefined>): string {
  const direct = headers['x-api-key'];
  if (typeof direct === 'string') return direct;
  const auth = headers.authorization;
  if (typeof auth === 'string' && auth.startsWith('Bearer ')) return auth.slice(7);
  return '';
}
