import net from 'node:net';

/**
 * A TCP proxy on 127.0.0.1 that can cut and restore the network between an agent and its broker: `cut()` destroys
 * every connection and refuses new ones until `restore()`. A real network cut for demos and tests, not a mock.
 */
export class TcpProxy {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  private open = true;

  constructor(private target: { host: string; port: number }) {}

  /** Points new connections at another address (e.g. a restarted broker); existing ones are cut. */
  retarget(target: { host: string; port: number }): void {
    this.target = target;
    for (const s of this.sockets) s.destroy();
  }

  async start(): Promise<number> {
    const server = net.createServer((client) => {
      if (!this.open) {
        client.destroy();
        return;
      }
      const upstream = net.connect(this.target.port, this.target.host);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => s.destroy());
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return (server.address() as net.AddressInfo).port;
  }

  cut(): void {
    this.open = false;
    for (const s of this.sockets) s.destroy();
  }

  restore(): void {
    this.open = true;
  }

  async stop(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
