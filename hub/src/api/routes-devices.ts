import type { FastifyInstance } from 'fastify';
import { ErrorCode, KeywayError } from '@keyway/shared';
import type { DeviceRecord, GrantRecord } from '../state/types.js';
import { httpUrl, pageQuery, paged, requireAccount, timeField, type ApiContext, type PageQuery } from './context.js';
import { idempotent } from './idempotency.js';

const ACCESS = ['access'];

export function publicDevice(d: DeviceRecord): Omit<DeviceRecord, 'tokenHash'> {
  const { tokenHash: _secret, ...rest } = d;
  return rest;
}

export function publicGrant(g: GrantRecord): GrantRecord {
  return g;
}

export function deviceRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.post(
    '/v1/customers',
    {
      schema: {
        tags: ['devices'],
        summary: 'Create or update a customer and the webhook their notifications go to',
        body: {
          type: 'object',
          required: ['id'],
          properties: { id: { type: 'string', minLength: 1, maxLength: 128 }, webhookUrl: httpUrl, webhookSecret: { type: 'string', minLength: 16 } },
        },
      },
    },
    async (request, reply) => {
      requireAccount(ctx, request, ACCESS, 'manage customers');
      const body = request.body as { id: string; webhookUrl?: string; webhookSecret?: string };
      await ctx.state.putCustomer({ id: body.id, webhookUrl: body.webhookUrl ?? null, webhookSecret: body.webhookSecret ?? null, createdAt: Date.now() });
      void reply.code(201);
      return { id: body.id, webhookUrl: body.webhookUrl ?? null };
    },
  );

  app.post(
    '/v1/devices',
    {
      schema: {
        tags: ['devices'],
        summary: 'Provision a device: returns its MQTT credentials (shown once) and the hub public key to pin',
        body: {
          type: 'object',
          required: ['deviceId', 'customerId'],
          properties: { deviceId: { type: 'string', minLength: 1, maxLength: 64 }, customerId: { type: 'string', minLength: 1, maxLength: 128 }, vendor: { type: 'string', maxLength: 64 } },
        },
      },
    },
    async (request, reply) => {
      requireAccount(ctx, request, ACCESS, 'provision devices');
      const body = request.body as { deviceId: string; customerId: string; vendor?: string };
      return idempotent(ctx, request, reply, 201, async () => {
        const { device, token, hubPublicKeyPem } = await ctx.access.provisionDevice(body);
        return { device: publicDevice(device), mqtt: { username: device.id, password: token, clientId: device.id }, hubPublicKeyPem };
      });
    },
  );

  app.get('/v1/devices', { schema: { tags: ['devices'], summary: 'List devices', querystring: pageQuery } }, async (request) => {
    requireAccount(ctx, request, [...ACCESS, 'delivery', 'ops'], 'list devices');
    const q = request.query as PageQuery;
    const items = await ctx.state.listDevices({ limit: q.limit, ...(q.after ? { after: q.after } : {}) });
    return paged(items.map(publicDevice), q.limit, (d) => d.id);
  });

  app.get('/v1/devices/:id', { schema: { tags: ['devices'], summary: 'One device with its reported state' } }, async (request) => {
    requireAccount(ctx, request, [...ACCESS, 'delivery', 'ops'], 'read devices');
    const { id } = request.params as { id: string };
    const device = await ctx.state.getDevice(id);
    if (!device) throw new KeywayError(ErrorCode.NotFound, `device ${id} does not exist`);
    return publicDevice(device);
  });

  app.post(
    '/v1/grants',
    {
      schema: {
        tags: ['grants'],
        summary: 'Issue an Ed25519-signed access grant for one device',
        body: {
          type: 'object',
          required: ['deviceId', 'holder', 'validFrom', 'validUntil'],
          properties: {
            deviceId: { type: 'string' },
            holder: { type: 'string', minLength: 1, maxLength: 128 },
            deliveryId: { type: 'string', maxLength: 128 },
            validFrom: { type: 'string', format: 'date-time' },
            validUntil: { type: 'string', format: 'date-time' },
            actions: { type: 'array', items: { enum: ['open', 'close'] }, minItems: 1, default: ['open', 'close'] },
            maxUses: { type: 'integer', minimum: 1, maximum: 1000, default: 4 },
            pin: { type: 'string', pattern: '^[0-9]{4,12}$' },
          },
        },
      },
    },
    async (request, reply) => {
      requireAccount(ctx, request, ACCESS, 'issue grants');
      const b = request.body as { deviceId: string; holder: string; deliveryId?: string; validFrom: string; validUntil: string; actions: ('open' | 'close')[]; maxUses: number; pin?: string };
      return idempotent(ctx, request, reply, 201, async () =>
        publicGrant(
          await ctx.access.issueGrant({
            deviceId: b.deviceId,
            holder: b.holder,
            ...(b.deliveryId ? { deliveryId: b.deliveryId } : {}),
            validFrom: timeField('validFrom', b.validFrom),
            validUntil: timeField('validUntil', b.validUntil),
            actions: b.actions,
            maxUses: b.maxUses,
            ...(b.pin ? { pin: b.pin } : {}),
          }),
        ),
      );
    },
  );

  app.get(
    '/v1/grants',
    { schema: { tags: ['grants'], summary: 'List grants', querystring: { ...pageQuery, properties: { ...pageQuery.properties, deviceId: { type: 'string' }, deliveryId: { type: 'string' } } } } },
    async (request) => {
      requireAccount(ctx, request, [...ACCESS, 'delivery', 'ops'], 'list grants');
      const q = request.query as PageQuery & { deviceId?: string; deliveryId?: string };
      const items = await ctx.state.listGrants({ ...(q.deviceId ? { deviceId: q.deviceId } : {}), ...(q.deliveryId ? { deliveryId: q.deliveryId } : {}) }, { limit: q.limit, ...(q.after ? { after: q.after } : {}) });
      return paged(items.map(publicGrant), q.limit, (g) => g.id);
    },
  );

  app.post(
    '/v1/grants/:id/revoke',
    { schema: { tags: ['grants'], summary: 'Revoke a grant and push the signed revocation list to its device', body: { type: 'object', properties: { reason: { type: 'string', maxLength: 500 } } } } },
    async (request) => {
      requireAccount(ctx, request, ACCESS, 'revoke grants');
      const { id } = request.params as { id: string };
      const { reason } = (request.body ?? {}) as { reason?: string };
      return publicGrant(await ctx.access.revokeGrant(id, reason));
    },
  );
}
