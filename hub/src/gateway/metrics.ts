import { Counter, Gauge, Registry } from 'prom-client';

/** The gateway's Prometheus metrics, in a registry of its own the API can merge into /metrics. */
export class GatewayMetrics {
  readonly registry = new Registry();
  readonly connected: Gauge;
  readonly online: Gauge;
  readonly inbound: Counter<'kind'>;
  readonly refusals: Counter<'reason'>;
  readonly rateLimited: Counter<'scope'>;
  readonly batches: Counter<'result'>;
  readonly events: Counter<'result'>;

  constructor() {
    const registers = [this.registry];
    this.connected = new Gauge({ name: 'keyway_gateway_connected_clients', help: 'MQTT clients connected to the embedded broker', registers });
    this.online = new Gauge({ name: 'keyway_gateway_online_devices', help: 'Devices the gateway counts as online', registers });
    this.inbound = new Counter({ name: 'keyway_gateway_inbound_messages_total', help: 'Device messages received, by topic kind', labelNames: ['kind'], registers });
    this.refusals = new Counter({ name: 'keyway_gateway_refusals_total', help: 'Connections, topics and payloads refused, by reason', labelNames: ['reason'], registers });
    this.rateLimited = new Counter({ name: 'keyway_gateway_rate_limited_total', help: 'Device messages dropped by a rate limit, by scope', labelNames: ['scope'], registers });
    this.batches = new Counter({ name: 'keyway_gateway_batches_total', help: 'Device batches handled, by result', labelNames: ['result'], registers });
    this.events = new Counter({ name: 'keyway_gateway_events_total', help: 'Device events bridged to the bus, by result', labelNames: ['result'], registers });
  }
}
