import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ErrorCode, KeywayError } from '@keyway/shared';
import type { SubscriberDeclaration } from '../bus/types.js';
import { accountOf, httpUrl, pageQuery, paged, timeField, type ApiContext, type PageQuery } from './context.js';
import { forbidden } from './errors.js';

const dlqFilter = {
  type: 'object',
  properties: { type: { type: 'string' }, subject: { type: 'string' }, deliveryIds: { type: 'array', items: { type: 'integer' }, maxItems: 1000 } },
} as const;

export function subscriberRoutes(app: FastifyInstance, ctx: ApiContext): void {
  /** The subscriber's own account or the platform account may manage it. */
  const owned = async (request: FastifyRequest): Promise<string> => {
    const account = accountOf(request);
    const { name } = request.params as { name: string };
    const record = await ctx.busStore.getSubscriber(name);
    if (!record) throw new KeywayError(ErrorCode.NotFound, `no subscriber named ${name} has been declared`);
    if (account !== ctx.platformAccount && record.account !== account) throw forbidden(account, `manage subscriber ${name}`);
    return name;
  };

  app.post(
    '/v1/subscribers',
    {
      schema: {
        tags: ['subscribers'],
        summary: 'Declare (idempotently) a webhook subscriber in the calling account: its own queue, retries, DLQ, metrics, alarms',
        body: {
          type: 'object',
          required: ['name', 'types', 'webhook'],
          properties: {
            name: { type: 'string', pattern: '^[a-z0-9][a-z0-9._-]{0,99}$' },
            types: { type: 'array', items: { type: 'string' }, minItems: 1 },
            patterns: { type: 'array', items: { type: 'object' } },
            webhook: { type: 'object', required: ['url', 'secret'], properties: { url: httpUrl, secret: { type: 'string', minLength: 16 } } },
            concurrency: { type: 'integer', minimum: 1, maximum: 256 },
            orderedBySubject: { type: 'boolean' },
            timeoutMs: { type: 'integer', minimum: 100, maximum: 300000 },
            // Bounded so that a typo cannot retry for ever or raise an alarm that can never clear.
            retry: { type: 'object', properties: { maxAttempts: { type: 'integer', minimum: 1, maximum: 100 }, maxAgeMs: { type: 'integer', minimum: 1000, maximum: 7 * 24 * 3600_000 } } },
            alarms: {
              type: 'object',
              properties: {
                dlqDepth: { type: 'integer', minimum: 1 },
                oldestAgeMs: { type: 'integer', minimum: 1000 },
                failureRate: { type: 'number', exclusiveMinimum: 0, maximum: 1 },
                p90LatencyMs: { type: 'number', exclusiveMinimum: 0, maximum: 3_600_000 },
                webhookUrl: httpUrl,
              },
            },
            transform: { type: 'object', required: ['inputPaths', 'template'], properties: { inputPaths: { type: 'object', additionalProperties: { type: 'string' }, maxProperties: 100 }, template: {} } },
          },
        },
      },
    },
    async (request, reply) => {
      const account = accountOf(request);
      const b = request.body as Omit<SubscriberDeclaration, 'account' | 'target'> & { webhook: { url: string; secret: string } };
      const { webhook, ...rest } = b;
      const outcome = await ctx.bus.declareSubscriber({ ...rest, account, target: { kind: 'webhook', url: webhook.url, secret: webhook.secret } });
      void reply.code(outcome === 'created' ? 201 : 200);
      return { name: b.name, outcome };
    },
  );

  app.get('/v1/subscribers', { schema: { tags: ['subscribers'], summary: 'Subscribers with their queue statistics' } }, async (request) => {
    const account = accountOf(request);
    const all = await ctx.busStore.listSubscribers();
    const visible = all.filter((s) => account === ctx.platformAccount || s.account === account);
    return { items: await Promise.all(visible.map(async (s) => ({ name: s.name, account: s.account, stats: await ctx.bus.subscriberStats(s.name).catch(() => null) }))) };
  });

  app.get('/v1/subscribers/:name', { schema: { tags: ['subscribers'], summary: 'One subscriber: queue depth, in flight, DLQ depth, oldest age, circuit' } }, async (request) => {
    return ctx.bus.subscriberStats(await owned(request));
  });

  app.get(
    '/v1/subscribers/:name/dlq',
    { schema: { tags: ['subscribers'], summary: 'Inspect dead letters', querystring: { ...pageQuery, properties: { ...pageQuery.properties, type: { type: 'string' }, subject: { type: 'string' } } } } },
    async (request) => {
      const name = await owned(request);
      const q = request.query as PageQuery & { type?: string; subject?: string };
      const after = q.after === undefined ? undefined : Number(q.after);
      if (after !== undefined && !Number.isInteger(after)) throw new KeywayError(ErrorCode.InvalidInput, '`after` must be the integer cursor returned as `next`');
      const items = await ctx.bus.listDlq(name, { ...(q.type ? { type: q.type } : {}), ...(q.subject ? { subject: q.subject } : {}) }, { limit: q.limit, ...(after !== undefined ? { after } : {}) });
      return paged(items.map((d) => ({ ...d, event: JSON.parse(d.payload) as unknown, payload: undefined })), q.limit, (d) => String(d.deliveryId));
    },
  );

  app.post('/v1/subscribers/:name/redrive', { schema: { tags: ['subscribers'], summary: 'Move dead letters (all, or those matching the filter) back to the queue', body: dlqFilter } }, async (request) => {
    const name = await owned(request);
    const filter = (request.body ?? {}) as { type?: string; subject?: string; deliveryIds?: number[] };
    return { redriven: await ctx.bus.redrive(name, filter) };
  });

  app.post(
    '/v1/subscribers/:name/replay',
    {
      schema: {
        tags: ['subscribers'],
        summary: 'Deliver again the archived events of a time range that match this subscriber',
        body: { type: 'object', required: ['from', 'to'], properties: { from: { type: 'string', format: 'date-time' }, to: { type: 'string', format: 'date-time' } } },
      },
    },
    async (request) => {
      const name = await owned(request);
      const b = request.body as { from: string; to: string };
      return { queued: await ctx.bus.replay(name, timeField('from', b.from), timeField('to', b.to)) };
    },
  );
}

