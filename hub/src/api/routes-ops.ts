import type { FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import { requireAccount, type ApiContext } from './context.js';
import { idempotent } from './idempotency.js';

export function opsRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.get('/healthz', { schema: { tags: ['ops'], summary: 'The process is alive', security: [] } }, () => ({ status: 'ok' }));

  app.get('/readyz', { schema: { tags: ['ops'], summary: 'Ready to serve: store and broker reachable', security: [] } }, async (_request, reply) => {
    const result = await ctx.ready();
    void reply.code(result.ready ? 200 : 503);
    return { status: result.ready ? 'ready' : 'not-ready', checks: result.checks };
  });

  app.get('/metrics', { schema: { tags: ['ops'], summary: 'Prometheus metrics', security: [] } }, async (_request, reply) => {
    const merged = Registry.merge([ctx.bus.metrics, ...ctx.metrics]);
    void reply.header('content-type', merged.contentType);
    return merged.metrics();
  });

  app.post(
    '/v1/accounts',
    { schema: { tags: ['accounts'], summary: 'Create an account and an API key for it (shown once)', body: { type: 'object', required: ['name'], properties: { name: { type: 'string', pattern: '^[a-z][a-z0-9-]{0,63}$' } } } } },
    async (request, reply) => {
      requireAccount(ctx, request, [], 'create accounts');
      const { name } = request.body as { name: string };
      return idempotent(ctx, request, reply, 201, async () => {
        await ctx.bus.createAccount(name);
        return { account: name, apiKey: await ctx.bus.issueApiKey(name) };
      });
    },
  );

  app.post('/v1/accounts/:name/keys', { schema: { tags: ['accounts'], summary: 'Issue another API key for an account (shown once)' } }, async (request, reply) => {
    requireAccount(ctx, request, [], 'issue API keys');
    const { name } = request.params as { name: string };
    return idempotent(ctx, request, reply, 201, async () => ({ account: name, apiKey: await ctx.bus.issueApiKey(name) }));
  });
}
