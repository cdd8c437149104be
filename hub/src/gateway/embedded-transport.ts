import { createServer as createNetServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { TLSSocket, createServer as createTlsServer } from 'node:tls';
import { Aedes, type AuthenticateError, type Client } from 'aedes';
import { describeError, parseDeviceTopic, type Logger } from '@keyway/shared';
import { tokenMatches } from './device-auth.js';
import { limitPacketSize } from './packet-size-guard.js';
import { maySubscribe, mayPublish } from './topic-policy.js';
import type { GatewayTransport, TransportSink } from './transport.js';
import type { DeviceDirectory, EmbeddedTls } from './types.js';

/** MQTT CONNACK return codes 4 (bad username or password) and 5 (not authorized). */
const BAD_CREDENTIALS = 4;
const NOT_AUTHORIZED = 5;

function authError(message: string, returnCode: number): AuthenticateError {
  const error = new Error(message) as AuthenticateError;
  (error as { returnCode: number }).returnCode = returnCode;
  return error;
}

export interface EmbeddedTransportOptions {
  port: number;
  host?: string;
  tls?: EmbeddedTls;
  devices: DeviceDirectory;
  log: Logger;
}

/**
 * aedes in this process, on TCP and optionally TLS. Devices log in with username = client id = device id and
 * password = device token; topic ACLs are enforced here, before a message reaches any subscriber.
 */
export class EmbeddedTransport implements GatewayTransport {
  private broker: Aedes | undefined;
  private servers: Server[] = [];
  private sink: TransportSink | undefined;
  /** Connected clients by device id; aedes keeps its own map but does not type it. */
  private readonly clients = new Map<string, Client>();
  private readonly deliver = (packet: { topic: string; payload: Buffer | string }, callback: () => void): void => {
    callback();
    const parsed = parseDeviceTopic(packet.topic);
    if (!parsed) return;
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    this.sink?.message({ deviceId: parsed.deviceId, suffix: parsed.suffix, payload });
  };
  /** The bound ports, once started. */
  address: { port: number; tlsPort?: number } | undefined;

  constructor(private readonly options: EmbeddedTransportOptions) {}

  async start(sink: TransportSink): Promise<void> {
    this.sink = sink;
    const { log } = this.options;
    const broker = await Aedes.createBroker({
      // Devices never see $SYS; the heartbeat only costs cycles at 10k clients.
      heartbeatInterval: 3_600_000,
      drainTimeout: 30_000,
      authenticate: (client, username, password, done) => {
        this.authenticate(client, username, password).then(
          (error) => done(error, error === null),
          (error: unknown) => {
            log.error({ err: describeError(error) }, 'device lookup failed during CONNECT');
            done(authError('device registry unavailable', 3), false);
          },
        );
      },
      authorizePublish: (client, packet, callback) => {
        // client is null only for an orphaned Last Will, which was checked when its owner connected.
        if (!client) return callback(null);
        const decision = mayPublish(client.id, packet.topic);
        if (decision.allowed) {
          // The hub is the only reader of device topics and is subscribed for the broker's whole life, so retained
          // copies serve nobody, and aedes scans every retained message on every SUBSCRIBE: with one retained
          // status per device a connect storm of N devices would cost O(N^2).
          packet.retain = false;
          return callback(null);
        }
        sink.detection({ kind: 'device-topic', deviceId: client.id, topic: packet.topic, detail: decision.reason });
        callback(new Error(decision.reason));
      },
      authorizeSubscribe: (client, subscription, callback) => {
        const decision = maySubscribe(client.id, subscription.topic);
        if (decision.allowed) return callback(null, subscription);
        sink.detection({ kind: 'device-topic', deviceId: client.id, topic: subscription.topic, detail: decision.reason });
        // Null keeps the connection and answers SUBACK 0x80 for this filter only.
        callback(null, null);
      },
    });
    this.broker = broker;
    broker.on('ping', (_packet, client) => sink.alive(client.id));
    broker.on('client', (client) => this.clients.set(client.id, client));
    broker.on('clientDisconnect', (client) => {
      if (this.clients.get(client.id) === client) this.clients.delete(client.id);
      sink.disconnected(client.id);
    });
    broker.on('clientError', (client, error) => log.debug({ deviceId: client.id, err: error.message }, 'device connection error'));
    await new Promise<void>((resolve) => broker.subscribe('keyway/v1/d/+/#', this.deliver, resolve));

    const host = this.options.host ?? '127.0.0.1';
    const accept = (socket: Socket): void => {
      // Acks, commands and grants are small writes a device waits for: with Nagle's algorithm and the device's delayed
      // ACKs each waited ~40 ms (a 1-event batch's ack took p50 45 ms on an idle gateway; 4.8 ms without).
      socket.setNoDelay(true);
      limitPacketSize(broker.handle(socket), socket, (declared, limit) =>
        log.warn({ remote: socket.remoteAddress, declared, limit }, `MQTT packet of ${declared} bytes is over the ${limit}-byte limit; connection closed`),
      );
    };
    const tcp = createNetServer(accept);
    const port = await listen(tcp, this.options.port, host);
    this.servers.push(tcp);
    let tlsPort: number | undefined;
    const tls = this.options.tls;
    if (tls) {
      const secure = createTlsServer(
        { key: tls.key, cert: tls.cert, ...(tls.ca ? { ca: tls.ca } : {}), requestCert: tls.requestCert ?? false, rejectUnauthorized: false },
        accept,
      );
      tlsPort = await listen(secure, tls.port, host);
      this.servers.push(secure);
    }
    this.address = { port, ...(tlsPort !== undefined ? { tlsPort } : {}) };
    log.info({ host, port, tlsPort }, 'embedded MQTT broker listening');
  }

  async stop(): Promise<void> {
    const broker = this.broker;
    this.broker = undefined;
    const servers = this.servers;
    this.servers = [];
    // Stop accepting first, then close the broker, which ends the device connections; only then can the
    // listeners' close callbacks fire (net.Server.close waits for every open connection).
    const closed = Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    if (broker) {
      await new Promise<void>((resolve) => broker.unsubscribe('keyway/v1/d/+/#', this.deliver, resolve));
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      broker.removeAllListeners();
    }
    await closed;
    this.clients.clear();
    this.sink = undefined;
    this.address = undefined;
  }

  publish(topic: string, payload: string, options: { qos: 0 | 1; retain?: boolean }): Promise<void> {
    const broker = this.broker;
    if (!broker) return Promise.reject(new Error('the embedded broker is not started'));
    return new Promise<void>((resolve, reject) => {
      broker.publish(
        { cmd: 'publish', topic, payload: Buffer.from(payload), qos: options.qos, retain: options.retain ?? false, dup: false },
        (error) => (error ? reject(error) : resolve()),
      );
    });
  }

  disconnect(deviceId: string): boolean {
    const client = this.clients.get(deviceId);
    if (!client) return false;
    client.close();
    return true;
  }

  ready(): boolean {
    return this.broker !== undefined && this.address !== undefined;
  }

  connectedClients(): number {
    return this.broker?.connectedClients ?? 0;
  }

  /** Null when the device may connect; otherwise the CONNACK error. */
  private async authenticate(client: Client, username: string | undefined, password: Buffer | undefined): Promise<AuthenticateError | null> {
    const id = client.id;
    const refuse = (detail: string, code: number): AuthenticateError => {
      this.options.log.warn({ clientId: id.slice(0, 128), username: username?.slice(0, 128) }, `device connection refused: ${detail}`);
      this.sink?.detection({ kind: 'unknown-device', deviceId: (username ?? id).slice(0, 128), detail });
      return authError(detail, code);
    };
    const certName = verifiedCertificateName(client);
    if (certName !== undefined && certName !== id) return refuse(`the client certificate names ${certName}, not ${id}`, NOT_AUTHORIZED);
    if (username !== undefined && username !== id) return refuse('the MQTT username must equal the client id (the device id)', NOT_AUTHORIZED);
    if (password === undefined && certName === undefined) return refuse(`device ${id} sent neither a token nor a client certificate`, BAD_CREDENTIALS);
    const device = await this.options.devices.getDevice(id);
    if (!device) return refuse(`device ${id} is not registered`, NOT_AUTHORIZED);
    // A certificate signed by the device CA identifies the device; a token, when sent as well, must still match.
    if (password !== undefined && !tokenMatches(password, device.tokenHash)) return refuse(`device ${id} presented a wrong token`, BAD_CREDENTIALS);
    return null;
  }
}

/** The CN of a client certificate the TLS listener verified against its CA, or undefined. */
function verifiedCertificateName(client: Client): string | undefined {
  const conn = client.conn;
  if (!(conn instanceof TLSSocket) || !conn.authorized) return undefined;
  const cn = conn.getPeerCertificate().subject?.CN;
  return typeof cn === 'string' && cn.length > 0 ? cn : undefined;
}

async function listen(server: Server, port: number, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}
