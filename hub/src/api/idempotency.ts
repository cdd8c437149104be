import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ApiContext } from './context.js';

/**
 * Runs a creating POST once per `Idempotency-Key` (per account and route): a retry with the same key gets the
 * first response again instead of creating a second thing.
 */
export async function idempotent<T>(ctx: ApiContext, request: FastifyRequest, reply: FastifyReply, status: number, run: () => Promise<T>): Promise<T> {
  const key = request.headers['idempotency-key'];
  if (typeof key !== 'string' || key.length === 0) {
    const body = await run();
    void reply.code(status);
    return body;
  }
  const scope = `${request.account ?? '-'} ${request.routeOptions.url ?? request.url}`;
  const stored = await ctx.state.recallIdempotent(scope, key);
  if (stored !== undefined) {
    void reply.code(status).header('idempotent-replayed', 'true');
    return JSON.parse(stored) as T;
  }
  const body = await run();
  const kept = await ctx.state.rememberIdempotent(scope, key, JSON.stringify(body), Date.now());
  void reply.code(status);
  return JSON.parse(kept) as T;
}
