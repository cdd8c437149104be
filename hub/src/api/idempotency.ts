import type { FastifyReply, FastifyRequest } from 'fastify';
import { ErrorCode, KeywayError } from '@keyway/shared';
import type { ApiContext } from './context.js';

/** A claim whose request has not finished in this long is taken to be abandoned (its replica died) and run again. */
export const IDEMPOTENCY_STALE_MS = 60_000;

/**
 * Runs a creating POST once per `Idempotency-Key` (per account and route): a retry with the same key gets the
 * first response again instead of creating a second thing. The key is claimed before the request runs, so
 * concurrent requests with one key never both run: the others get CONFLICT while it runs, and its response after.
 * A request that fails releases the key, so its retry runs again.
 */
export async function idempotent<T>(ctx: ApiContext, request: FastifyRequest, reply: FastifyReply, status: number, run: () => Promise<T>): Promise<T> {
  const key = request.headers['idempotency-key'];
  if (typeof key !== 'string' || key.length === 0) {
    const body = await run();
    void reply.code(status);
    return body;
  }
  // The path as called (not the route pattern): one key for /v1/accounts/a/keys and /v1/accounts/b/keys are two requests.
  const scope = `${request.account ?? '-'} ${request.url.split('?')[0] ?? ''}`;
  const claim = await ctx.state.claimIdempotent(scope, key, Date.now(), IDEMPOTENCY_STALE_MS);
  if (claim.kind === 'done') {
    void reply.code(status).header('idempotent-replayed', 'true');
    // Responses stored before they were sealed are plain JSON.
    const text = claim.response.startsWith('{') ? claim.response : ctx.secretBox.open(claim.response);
    return JSON.parse(text) as T;
  }
  if (claim.kind === 'running') {
    throw new KeywayError(ErrorCode.Conflict, `a request with Idempotency-Key ${JSON.stringify(key)} is still running; retry it in a moment to get its response`, {
      details: { idempotencyKey: key },
    });
  }
  let body: T;
  try {
    body = await run();
  } catch (error) {
    await ctx.state.releaseIdempotent(scope, key);
    throw error;
  }
  // Sealed: the responses hold API keys and device tokens, which the hub otherwise stores only hashed.
  await ctx.state.completeIdempotent(scope, key, ctx.secretBox.seal(JSON.stringify(body)));
  void reply.code(status);
  return body;
}
