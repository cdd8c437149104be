import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

/**
 * A TCP pass-through in front of a broker, so a test can cut the network (no DISCONNECT, as in a power cut), stall it,
 * or slow its downlink: with `downDelayMs`, broker-to-device bytes are held that long and delivered in one write (a
 * CONNACK arrives, the SUBACK after it that much later).
 */
export class NetworkCut {
  private server: Server | undefined;
  /** Open connections: the device's socket and the one to the broker; gone when both are closed. */
  private readonly pairs = new Set<{ client: Socket; upstream: Socket; stalled: boolean }>();
  port = 0;
  downDelayMs = 0;

  constructor(private readonly targetPort: number) {}

  async start(port = 0): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(this.targetPort, '127.0.0.1');
      const pair = { client, upstream, stalled: false };
      this.pairs.add(pair);
      for (const s of [client, upstream]) s.on('error', () => undefined);
      client.pipe(upstream);
      let held: Buffer[] = [];
      let timer: NodeJS.Timeout | undefined;
      upstream.on('data', (d: Buffer) => {
        if (pair.stalled) return;
        if (this.downDelayMs === 0) {
          client.write(d);
          return;
        }
        held.push(d);
        timer ??= setTimeout(() => {
          timer = undefined;
          const all = Buffer.concat(held);
          held = [];
          if (!client.destroyed) client.write(all);
        }, this.downDelayMs);
      });
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
      let open = 2;
      for (const s of [client, upstream]) {
        s.on('close', () => {
          open--;
          if (open === 0) this.pairs.delete(pair);
        });
      }
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
  }

  /** Drops every connection and stops accepting new ones. */
  async cut(): Promise<void> {
    for (const { client, upstream } of this.pairs) {
      client.destroy();
      upstream.destroy();
    }
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /**
   * A half-dead network: the device's packets still reach the broker, but nothing comes back (no
   * acks, no pings answered), and no connection is closed.
   */
  stall(): void {
    for (const pair of this.pairs) {
      pair.stalled = true;
      pair.upstream.pause();
    }
  }

  /** Connections currently open through the proxy (device side). */
  get openConnections(): number {
    return this.pairs.size;
  }

  /** Accepts connections again on the same port. */
  async restore(): Promise<void> {
    await this.start(this.port);
  }

  async stop(): Promise<void> {
    await this.cut();
  }
}
