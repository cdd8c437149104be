import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

/**
 * A TCP pass-through on 127.0.0.1 that can cut the network (close every connection and stop listening), restore it
 * on the same port, and hold broker-to-device bytes for `downDelayMs` (a slow downlink: CONNACK arrives, the SUBACK
 * that follows it comes that much later).
 */
export class DelayProxy {
  private server: Server | undefined;
  private readonly pairs = new Set<{ client: Socket; upstream: Socket }>();
  port = 0;
  downDelayMs = 0;

  constructor(private readonly targetPort: number) {}

  async start(port = 0): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(this.targetPort, '127.0.0.1');
      const pair = { client, upstream };
      this.pairs.add(pair);
      for (const s of [client, upstream]) s.on('error', () => undefined);
      client.on('data', (d: Buffer) => upstream.write(d));
      let held: Buffer[] = [];
      let timer: NodeJS.Timeout | undefined;
      upstream.on('data', (d: Buffer) => {
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
      client.on('close', () => {
        upstream.destroy();
        this.pairs.delete(pair);
      });
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
  }

  async cut(): Promise<void> {
    for (const { client, upstream } of this.pairs) {
      client.destroy();
      upstream.destroy();
    }
    const s = this.server;
    this.server = undefined;
    if (s) await new Promise<void>((r) => s.close(() => r()));
  }

  restore(): Promise<void> {
    return this.start(this.port);
  }
}
