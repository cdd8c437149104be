import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

/** A TCP pass-through in front of a broker, so a test can cut the network (no DISCONNECT, as in a power cut). */
export class NetworkCut {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly toDevice = new Set<Socket>();
  port = 0;

  constructor(private readonly targetPort: number) {}

  async start(port = 0): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(this.targetPort, '127.0.0.1');
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
      this.toDevice.add(upstream);
      upstream.on('close', () => this.toDevice.delete(upstream));
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
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
    for (const s of this.sockets) s.destroy();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /**
   * A half-dead network: the device's packets still reach the broker, but nothing comes back (no
   * acks, no pings answered), and no connection is closed.
   */
  stall(): void {
    for (const upstream of this.toDevice) upstream.unpipe();
  }

  /** Connections currently open through the proxy (device side). */
  get openConnections(): number {
    return this.sockets.size / 2;
  }

  /** Accepts connections again on the same port. */
  async restore(): Promise<void> {
    await this.start(this.port);
  }

  async stop(): Promise<void> {
    await this.cut();
  }
}
