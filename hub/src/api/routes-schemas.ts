import type { FastifyInstance } from 'fastify';
import { ErrorCode, KeywayError } from '@keyway/shared';
import { CompatibilityMode } from '@keyway/shared/registry';
import { accountOf, requireAccount, type ApiContext } from './context.js';
import { forbidden } from './errors.js';

export function schemaRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const { registry } = ctx;
  const summary = (type: string) =>
    registry.versions(type).map((s) => ({ type: s.type, version: s.version, id: s.id, owner: s.meta.owner, consumers: s.meta.consumers, status: s.meta.status, sunset: s.meta.sunset ?? null, replacement: s.meta.replacement ?? null }));

  app.get('/v1/schemas', { schema: { tags: ['schemas'], summary: 'List event types and their versions' } }, (request) => {
    accountOf(request);
    return { items: registry.types().map((type) => ({ type, versions: summary(type) })) };
  });

  app.get('/v1/schemas/:type', { schema: { tags: ['schemas'], summary: 'Versions of one event type, with their documents' } }, (request) => {
    accountOf(request);
    const { type } = request.params as { type: string };
    if (registry.versions(type).length === 0) throw new KeywayError(ErrorCode.NotFound, `no event type ${type} is registered`, { details: { type } });
    return { type, versions: registry.versions(type).map((s) => ({ ...summary(type).find((v) => v.version === s.version), document: s.document })) };
  });

  app.post(
    '/v1/schemas',
    {
      schema: {
        tags: ['schemas'],
        summary: 'Register a new schema version (meta-validated and compatibility-checked)',
        body: { type: 'object', required: ['document'], properties: { document: { type: 'object' }, compatibility: { enum: [...CompatibilityMode] } } },
      },
    },
    async (request, reply) => {
      const account = accountOf(request);
      const { document, compatibility } = request.body as { document: Record<string, unknown>; compatibility?: CompatibilityMode };
      const meta = document['x-keyway'] as { owner?: unknown; type?: unknown } | undefined;
      const current = typeof meta?.type === 'string' ? registry.owner(meta.type) : undefined;
      if (account !== ctx.platformAccount) {
        // A type's versions come from its owner: naming yourself the owner of someone else's type is not a way in.
        if (current !== undefined && current !== account) throw forbidden(account, `register a version of ${String(meta?.type)}, owned by ${current}`);
        if (meta?.owner !== account) throw forbidden(account, `register a schema owned by ${String(meta?.owner)}`);
      }
      const schema = await registry.register(document, { actor: account, ...(compatibility ? { mode: compatibility } : {}) });
      void reply.code(201);
      return { type: schema.type, version: schema.version, id: schema.id };
    },
  );

  app.post(
    '/v1/schemas/:type/versions/:version/deprecate',
    {
      schema: {
        tags: ['schemas'],
        summary: 'Deprecate a version with a sunset date and an optional replacement',
        body: { type: 'object', required: ['sunset'], properties: { sunset: { type: 'string' }, replacement: { type: 'string' } } },
      },
    },
    async (request) => {
      const { type, version } = request.params as { type: string; version: string };
      const owner = registry.owner(type);
      const account = requireAccount(ctx, request, owner ? [owner] : [], `deprecate ${type}`);
      const body = request.body as { sunset: string; replacement?: string };
      const schema = await registry.deprecate(type, Number(version), { actor: account, sunset: body.sunset, ...(body.replacement ? { replacement: body.replacement } : {}) });
      await ctx.bus.announceDeprecation({ eventType: type, version: schema.version, sunset: body.sunset, ...(body.replacement ? { replacement: body.replacement } : {}), actor: account });
      return { type: schema.type, version: schema.version, status: schema.meta.status, sunset: schema.meta.sunset };
    },
  );

  app.get('/v1/schemas-audit', { schema: { tags: ['schemas'], summary: 'The registry audit trail and whether its hash chain holds' } }, async (request) => {
    accountOf(request);
    return { entries: await registry.audit.list(), verification: await registry.audit.verify() };
  });
}
