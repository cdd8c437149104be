import { createHash } from 'node:crypto';
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { ErrorCode, KeywayError, type EventEnvelope } from '@keyway/shared';
import { SIGNATURE_HEADER, signWebhook } from './webhook-signature.js';
import type { BusDeliveryContext, TargetSpec } from './types.js';
import type { SecretBox } from './secret-box.js';

export type MqttPublish = (topic: string, payload: string) => Promise<void>;

/** One delivery attempt; rejects on any failure (thrown, non-2xx, timeout via the signal). */
export type TargetInvoker = ((event: EventEnvelope, context: BusDeliveryContext) => Promise<void>) & {
  /** Releases what the target holds (keep-alive sockets). */
  close?: () => void;
};

/** One POST over a keep-alive agent; resolves with the status once the response body is drained. */
function post(
  url: URL,
  agent: HttpAgent,
  body: string,
  headers: Record<string, string>,
  signal: AbortSignal,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send(
      url,
      { method: 'POST', agent, signal, headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) } },
      (res) => {
        res.on('error', reject);
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.resume(); // drain so the socket goes back to the pool
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * Webhook target on node:http with a keep-alive agent per target (noticeably cheaper per call
 * than fetch on Node 20). The agent's socket cap follows the subscriber's concurrency.
 */
function webhookInvoker(
  spec: Extract<TargetSpec, { kind: 'webhook' }>,
  clock: () => number,
  sockets: number,
): TargetInvoker {
  const url = new URL(spec.url);
  const options = { keepAlive: true, maxSockets: sockets, maxFreeSockets: sockets };
  const agent = url.protocol === 'https:' ? new HttpsAgent(options) : new HttpAgent(options);
  const invoke: TargetInvoker = async (event, ctx) => {
    const body = JSON.stringify(ctx.input);
    const status = await post(
      url,
      agent,
      body,
      {
        ...spec.headers,
        'content-type': 'application/json',
        [SIGNATURE_HEADER]: signWebhook(spec.secret, body, clock()),
        // the dedup key holds a NUL separator, so it travels URI-encoded
        'x-keyway-dedup-key': encodeURIComponent(ctx.dedupKey),
        'x-keyway-attempt': String(ctx.attempt),
        'x-keyway-subscriber': ctx.subscriber,
        'x-keyway-event-type': event.type,
      },
      ctx.signal,
    );
    if (status < 200 || status >= 300) {
      throw new KeywayError(ErrorCode.Unavailable, `webhook answered ${status}`, { details: { status } });
    }
  };
  invoke.close = () => agent.destroy();
  return invoke;
}

function mqttInvoker(spec: Extract<TargetSpec, { kind: 'mqtt' }>, publish: MqttPublish): TargetInvoker {
  return async (event, ctx) => {
    const topic = spec.topic.replaceAll('{subject}', event.subject ?? '').replaceAll('{type}', event.type);
    await publish(topic, JSON.stringify(ctx.input));
  };
}

export function createTargetInvoker(
  spec: TargetSpec,
  deps: { clock: () => number; mqttPublish: MqttPublish | undefined; concurrency: number },
): TargetInvoker {
  switch (spec.kind) {
    case 'handler': {
      const handler = spec.handler;
      return async (event, ctx) => {
        await handler(event, ctx);
      };
    }
    case 'webhook':
      return webhookInvoker(spec, deps.clock, deps.concurrency);
    case 'mqtt': {
      if (!deps.mqttPublish) {
        throw new KeywayError(
          ErrorCode.ConfigInvalid,
          'an MQTT target needs the bus to be created with an mqttPublish function',
        );
      }
      return mqttInvoker(spec, deps.mqttPublish);
    }
  }
}

/**
 * The declaration as stored: functions dropped, secrets replaced by a short fingerprint (a changed secret still counts
 * as a change). With a box, a webhook's secret and header values are also kept sealed, so it can resume after a restart.
 */
export function storableTarget(spec: TargetSpec, box?: SecretBox): Record<string, unknown> {
  switch (spec.kind) {
    case 'handler':
      return { kind: 'handler' };
    case 'webhook':
      return {
        kind: 'webhook',
        url: spec.url,
        secret: `sha256:${createHash('sha256').update(spec.secret).digest('hex').slice(0, 16)}`,
        headers: Object.keys(spec.headers ?? {}),
        ...(box ? { sealed: box.seal(JSON.stringify({ secret: spec.secret, headers: spec.headers ?? {} })) } : {}),
      };
    case 'mqtt':
      return { kind: 'mqtt', topic: spec.topic };
  }
}

/**
 * The target a stored declaration describes, when it can be rebuilt without code: a webhook whose secret was sealed
 * (opened with `box`) or an MQTT topic. Undefined for in-process handlers, which their code declares again.
 */
export function storedTarget(stored: unknown, box: SecretBox | undefined): TargetSpec | undefined {
  const t = stored as { kind?: unknown; url?: unknown; topic?: unknown; sealed?: unknown } | null;
  if (t?.kind === 'mqtt' && typeof t.topic === 'string') return { kind: 'mqtt', topic: t.topic };
  if (t?.kind !== 'webhook' || typeof t.url !== 'string' || typeof t.sealed !== 'string' || !box) return undefined;
  const { secret, headers } = JSON.parse(box.open(t.sealed)) as { secret: string; headers: Record<string, string> };
  return { kind: 'webhook', url: t.url, secret, ...(Object.keys(headers).length > 0 ? { headers } : {}) };
}

/**
 * Runs one attempt with a deadline; the attempt's signal is aborted when the deadline passes.
 * The AbortController is made only when the target reads the signal (webhooks do, most in-process
 * handlers never do): one per delivery was a visible share of the delivery path at 20k events/s.
 */
export function withTimeout<T>(timeoutMs: number, run: (signal: () => AbortSignal) => Promise<T>): Promise<T> {
  let controller: AbortController | undefined;
  let expired: KeywayError | undefined;
  const signal = (): AbortSignal => {
    if (!controller) {
      controller = new AbortController();
      if (expired) controller.abort(expired);
    }
    return controller.signal;
  };
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      expired = new KeywayError(ErrorCode.Timeout, `the target did not answer within ${timeoutMs} ms`);
      controller?.abort(expired);
      reject(expired);
    }, timeoutMs);
    let attempt: Promise<T>;
    try {
      attempt = run(signal);
    } catch (error) {
      attempt = Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    attempt.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}
