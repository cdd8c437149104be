import type { FastifyInstance } from 'fastify';
import { ErrorCode, KeywayError } from '@keyway/shared';
import { DELIVERY_STATES, type DeliveryRecord, type DeliveryState } from '../state/types.js';
import { pageQuery, paged, requireAccount, timeField, type ApiContext, type PageQuery } from './context.js';
import { idempotent } from './idempotency.js';

const DELIVERY = ['delivery'];

function publicDelivery(d: DeliveryRecord): Omit<DeliveryRecord, 'outbox'> {
  const { outbox: _internal, ...rest } = d;
  return rest;
}

export function deliveryRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.post(
    '/v1/deliveries',
    {
      schema: {
        tags: ['deliveries'],
        summary: 'Schedule a delivery: issues a time-limited grant for the courier',
        body: {
          type: 'object',
          required: ['customerId', 'deviceId', 'courierId', 'windowStart', 'windowEnd'],
          properties: {
            id: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,100}$' },
            customerId: { type: 'string', minLength: 1, maxLength: 128 },
            deviceId: { type: 'string', minLength: 1, maxLength: 64 },
            courierId: { type: 'string', minLength: 1, maxLength: 128 },
            windowStart: { type: 'string', format: 'date-time' },
            windowEnd: { type: 'string', format: 'date-time' },
            parcelRef: { type: 'string', maxLength: 200 },
            pin: { type: 'string', pattern: '^[0-9]{4,12}$' },
          },
        },
      },
    },
    async (request, reply) => {
      requireAccount(ctx, request, DELIVERY, 'schedule deliveries');
      const b = request.body as { id?: string; customerId: string; deviceId: string; courierId: string; windowStart: string; windowEnd: string; parcelRef?: string; pin?: string };
      return idempotent(ctx, request, reply, 201, async () =>
        publicDelivery(
          await ctx.delivery.schedule({
            ...(b.id ? { id: b.id } : {}),
            customerId: b.customerId,
            deviceId: b.deviceId,
            courierId: b.courierId,
            windowStart: timeField('windowStart', b.windowStart),
            windowEnd: timeField('windowEnd', b.windowEnd),
            ...(b.parcelRef ? { parcelRef: b.parcelRef } : {}),
            ...(b.pin ? { pin: b.pin } : {}),
          }),
        ),
      );
    },
  );

  app.get(
    '/v1/deliveries',
    { schema: { tags: ['deliveries'], summary: 'List deliveries', querystring: { ...pageQuery, properties: { ...pageQuery.properties, deviceId: { type: 'string' }, state: { type: 'string', enum: [...DELIVERY_STATES] } } } } },
    async (request) => {
      requireAccount(ctx, request, [...DELIVERY, 'ops', 'notify'], 'list deliveries');
      const q = request.query as PageQuery & { deviceId?: string; state?: DeliveryState };
      const items = await ctx.delivery.list({ ...(q.deviceId ? { deviceId: q.deviceId } : {}), ...(q.state ? { state: q.state } : {}) }, { limit: q.limit, ...(q.after ? { after: q.after } : {}) });
      return paged(items.map(publicDelivery), q.limit, (d) => d.id);
    },
  );

  const get = async (id: string): Promise<DeliveryRecord> => {
    const d = await ctx.delivery.get(id);
    if (!d) throw new KeywayError(ErrorCode.NotFound, `delivery ${id} does not exist`);
    return d;
  };

  app.get('/v1/deliveries/:id', { schema: { tags: ['deliveries'], summary: 'A delivery and its state' } }, async (request) => {
    requireAccount(ctx, request, [...DELIVERY, 'ops', 'notify'], 'read deliveries');
    return publicDelivery(await get((request.params as { id: string }).id));
  });

  app.get('/v1/deliveries/:id/timeline', { schema: { tags: ['deliveries'], summary: 'Every step of a delivery with its time' } }, async (request) => {
    requireAccount(ctx, request, [...DELIVERY, 'ops', 'notify'], 'read deliveries');
    const d = await get((request.params as { id: string }).id);
    return { id: d.id, state: d.state, timeline: d.timeline.map((e) => ({ ...e, time: new Date(e.at).toISOString() })) };
  });

  const step = (path: string, summary: string, run: (id: string) => Promise<DeliveryRecord>): void => {
    app.post(`/v1/deliveries/:id/${path}`, { schema: { tags: ['deliveries'], summary } }, async (request) => {
      requireAccount(ctx, request, DELIVERY, summary.toLowerCase());
      return publicDelivery(await run((request.params as { id: string }).id));
    });
  };
  step('arrived', 'Courier arrived', (id) => ctx.delivery.courierArrived(id));
  step('unlock', 'Unlock the garage for the courier', (id) => ctx.delivery.unlock(id));
  step('package-placed', 'Package placed: the door closes after its warning', (id) => ctx.delivery.packagePlaced(id));
}
