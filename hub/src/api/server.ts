import swagger from '@fastify/swagger';
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { ErrorCode, KeywayError, createLogger } from '@keyway/shared';
import { hashApiKey } from '../bus/ingest.js';
import type { ApiContext } from './context.js';
import { errorBodySchema, httpStatus, type ErrorBody } from './errors.js';
import { finiteKeyword, requireFiniteNumbers } from './finite-numbers.js';
import { deliveryRoutes } from './routes-deliveries.js';
import { deviceRoutes } from './routes-devices.js';
import { apiKeyOf, eventRoutes } from './routes-events.js';
import { opsRoutes } from './routes-ops.js';
import { schemaRoutes } from './routes-schemas.js';
import { refusedRoutes } from './routes-refused.js';
import { subscriberRoutes } from './routes-subscribers.js';

const PUBLIC = new Set(['/healthz', '/readyz', '/metrics', '/openapi.json']);

/** Answers a refusal or failure in the one error shape; refusals (4xx) get an info line, failures are logged where they happen. */
function sendError(request: FastifyRequest, reply: FastifyReply, status: number, body: ErrorBody): void {
  if (status < 500) request.log.info({ status, code: body.error.code, url: request.url, account: request.account }, body.error.message);
  void reply.code(status).send(body);
}

/** Builds the hub's HTTP API (Fastify) with its OpenAPI document at /openapi.json. Call `listen` on the result. */
export async function buildApi(ctx: ApiContext): Promise<FastifyInstance> {
  const log: FastifyBaseLogger = createLogger('api');
  const app = Fastify({
    loggerInstance: log,
    bodyLimit: 1024 * 1024,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true }, plugins: [finiteKeyword] },
    // Errors Fastify raises before routing (a malformed percent-encoding in the path, a too long parameter): the same
    // error shape and log line as every other refusal.
    // Headers over the limit (431) or a request the parser cannot read (400), answered before Fastify sees a request:
    // the same error shape as every other refusal.
    clientErrorHandler: (error: NodeJS.ErrnoException, socket) => {
      const headersTooLarge = error.code === 'HPE_HEADER_OVERFLOW';
      const status = headersTooLarge ? 431 : 400;
      const message = headersTooLarge ? 'the request headers (or URL) are over 16 KiB' : 'the request cannot be read as HTTP';
      const body = JSON.stringify({ error: { code: ErrorCode.InvalidInput, message, details: {} } });
      if (socket.writable) {
        socket.end(`HTTP/1.1 ${status} ${headersTooLarge ? 'Request Header Fields Too Large' : 'Bad Request'}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
      } else {
        socket.destroy(error);
      }
    },
    frameworkErrors: (error, request, reply) => {
      const refusal = new KeywayError(ErrorCode.InvalidInput, `the request path cannot be read (${error.message})`);
      sendError(request, reply, httpStatus(refusal), { error: refusal.toJSON() });
    },
  });
  requireFiniteNumbers(app);
  app.decorateRequest('account', undefined);

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'Keyway hub API', version: '1.0.0', description: 'Accounts, devices, grants, deliveries, subscribers and schemas of the Keyway hub.' },
      components: { securitySchemes: { apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key' } } },
      security: [{ apiKey: [] }],
    },
  });

  app.addHook('onRequest', async (request) => {
    const path = request.url.split('?')[0] ?? '';
    if (PUBLIC.has(path)) return;
    const key = apiKeyOf(request.headers);
    if (!key) return;
    request.account = await ctx.busStore.accountForKey(hashApiKey(key));
    if (request.account === undefined) throw new KeywayError(ErrorCode.Unauthenticated, 'the API key is unknown or revoked');
  });

  app.setErrorHandler((error: FastifyError | KeywayError, request, reply) => {
    let body: ErrorBody;
    let status: number;
    if (error instanceof KeywayError) {
      status = httpStatus(error);
      body = { error: error.toJSON() };
    } else if (error.validation) {
      status = 400;
      body = { error: { code: ErrorCode.InvalidInput, message: `request ${error.validationContext ?? ''} is invalid: ${error.message}`, details: { issues: error.validation } } };
    } else if (error.statusCode !== undefined && error.statusCode < 500) {
      status = error.statusCode;
      const malformed = error.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || error.code === 'FST_ERR_CTP_EMPTY_JSON_BODY';
      // Over the body limit: a batch on PutEvents, any other body elsewhere.
      const tooLarge = status === 413 ? (request.routeOptions.url === '/v1/events' ? ErrorCode.BatchTooLarge : ErrorCode.InvalidInput) : undefined;
      const code = malformed ? ErrorCode.MalformedJson : (tooLarge ?? ErrorCode.InvalidInput);
      const message = status === 413 ? `the request body is over ${app.initialConfig.bodyLimit ?? 0} bytes` : error.message;
      body = { error: { code, message, details: {} } };
    } else {
      status = 500;
      body = { error: { code: ErrorCode.Internal, message: 'internal error; the hub logged it' } };
      request.log.error({ err: error, url: request.url }, 'request failed');
    }
    sendError(request, reply, status, body);
  });

  // Unknown routes are refused through the error handler, in the same shape as every other refusal.
  app.setNotFoundHandler((request) => {
    const path = request.url.split('?')[0] ?? '';
    throw new KeywayError(ErrorCode.NotFound, `no route ${request.method} ${path}; the routes are listed in /openapi.json`);
  });

  app.addSchema({ $id: 'Error', ...errorBodySchema });
  eventRoutes(app, ctx);
  schemaRoutes(app, ctx);
  deviceRoutes(app, ctx);
  refusedRoutes(app, ctx);
  deliveryRoutes(app, ctx);
  subscriberRoutes(app, ctx);
  opsRoutes(app, ctx);
  app.get('/openapi.json', { schema: { hide: true } }, () => app.swagger());
  await app.ready();
  return app;
}
