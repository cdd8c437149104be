import type { FastifyInstance } from 'fastify';
import { ErrorCode, KeywayError } from '@keyway/shared';
import type { RefusedEventRecord } from '../state/types.js';
import { paged, requireAccount, type ApiContext } from './context.js';

/** The account device events are published as (the gateway's). */
const GATEWAY_ACCOUNT = 'device-gateway';
/** Events redriven per call; call again for more. */
const REDRIVE_LIMIT = 500;

const refusedQuery = {
  type: 'object',
  properties: { limit: { type: 'integer', minimum: 1, maximum: 500, default: 50 }, after: { type: 'integer', minimum: 0 } },
} as const;

/** Whether a kept event names this device as its source and carries the id its sequence gives (`<id>-<seq>`). */
function speaksFor(deviceId: string, r: RefusedEventRecord): boolean {
  const event = JSON.parse(r.payload) as { source?: unknown; id?: unknown } | null;
  return event?.source === `keyway://device/${deviceId}` && event.id === `${deviceId}-${r.seq}`;
}

function view(r: RefusedEventRecord): Record<string, unknown> {
  return { seq: r.seq, code: r.code, message: r.message, at: new Date(r.at).toISOString(), event: JSON.parse(r.payload) as unknown };
}

/**
 * Device events the gateway refused for good (an unknown or retired schema version, an id reused with other content,
 * a foreign source): kept with their bodies, so an agent deleting them after the ack loses nothing. Redrive publishes
 * them again (after the hub has learnt the schema, say); what the bus takes leaves the list.
 */
export function refusedRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.get('/v1/devices/:id/refused', { schema: { tags: ['devices'], summary: "A device's events refused for good, with their bodies", querystring: refusedQuery } }, async (request) => {
    requireAccount(ctx, request, ['ops'], "read a device's refused events");
    const { id } = request.params as { id: string };
    const q = request.query as { limit: number; after?: number };
    if (!(await ctx.state.getDevice(id))) throw new KeywayError(ErrorCode.NotFound, `device ${id} does not exist`);
    const rows = await ctx.state.listRefusedEvents(id, { limit: q.limit, ...(q.after !== undefined ? { after: q.after } : {}) });
    return paged(rows.map(view), q.limit, (r) => String(r.seq));
  });

  app.post('/v1/devices/:id/refused/redrive', { schema: { tags: ['devices'], summary: `Publish up to ${REDRIVE_LIMIT} refused events again; those the bus takes leave the list` } }, async (request) => {
    requireAccount(ctx, request, ['ops'], "redrive a device's refused events");
    const { id } = request.params as { id: string };
    if (!(await ctx.state.getDevice(id))) throw new KeywayError(ErrorCode.NotFound, `device ${id} does not exist`);
    const rows = await ctx.state.listRefusedEvents(id, { limit: REDRIVE_LIMIT });
    // Only events that speak for this device under the id their sequence gives are published: the gateway refused the
    // others for exactly that (a device publishing as another), and a redrive must not let them through.
    const own = rows.filter((r) => speaksFor(id, r));
    const foreign = rows.length - own.length;
    const taken: number[] = [];
    const refusedAgain: RefusedEventRecord[] = [];
    for (let i = 0; i < own.length; i += 10) {
      const chunk = own.slice(i, i + 10);
      const results = await ctx.bus.publishAs(GATEWAY_ACCOUNT, chunk.map((r) => JSON.parse(r.payload) as unknown));
      chunk.forEach((r, j) => {
        const result = results[j];
        if (result && result.status !== 'rejected') taken.push(r.seq);
        else refusedAgain.push({ ...r, code: result?.error.code ?? ErrorCode.Internal, message: result?.error.message ?? 'the bus returned no result', at: Date.now() });
      });
    }
    await ctx.state.deleteRefusedEvents(id, taken);
    if (refusedAgain.length > 0) await ctx.state.keepRefusedEvents(refusedAgain);
    return { published: taken.length, stillRefused: refusedAgain.length + foreign, more: rows.length === REDRIVE_LIMIT };
  });
}
