import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Aedes } from 'aedes';

export interface TestBroker {
  name: string;
  url: string;
  port: number;
  /** Stops accepting and drops every client (the network goes away). */
  stop(): Promise<void>;
}

/** The embedded broker the hub uses, on 127.0.0.1 and an ephemeral port. */
export async function startAedes(port = 0): Promise<TestBroker> {
  const broker = await Aedes.createBroker();
  const server: Server = createServer((socket) => broker.handle(socket));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const actual = (server.address() as AddressInfo).port;
  const sockets = new Set<Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  return {
    name: 'aedes',
    url: `mqtt://127.0.0.1:${actual}`,
    port: actual,
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await new Promise<void>((resolve) => broker.close(() => resolve()));
    },
  };
}

export const mosquittoPath = ['/usr/sbin/mosquitto', '/usr/bin/mosquitto'].find((p) => spawnSync('test', ['-x', p]).status === 0);

/** A free ephemeral port (mosquitto cannot listen on port 0 and report it). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface MosquittoOptions {
  port?: number;
  /** Extra lines for the listener (TLS: cafile, certfile, keyfile, require_certificate). */
  listenerLines?: string[];
  tls?: boolean;
}

/** A real mosquitto (Debian package `mosquitto`) on 127.0.0.1 with an ephemeral port. */
export async function startMosquitto(options: MosquittoOptions = {}): Promise<TestBroker> {
  if (!mosquittoPath) throw new Error('mosquitto is not installed (Debian package: mosquitto)');
  const port = options.port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'keyway-mosquitto-'));
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(conf, [`listener ${port} 127.0.0.1`, 'allow_anonymous true', 'persistence false', ...(options.listenerLines ?? [])].join('\n') + '\n');
  const child: ChildProcess = spawn(mosquittoPath, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  await waitForPort(port, 5_000).catch((error: unknown) => {
    child.kill('SIGKILL');
    throw new Error(`mosquitto did not start: ${(error as Error).message}\n${stderr}`);
  });
  return {
    name: 'mosquitto',
    url: `${options.tls ? 'mqtts' : 'mqtt'}://127.0.0.1:${port}`,
    port,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
      // A connection attempt that hangs counts as not listening yet, so the deadline still holds.
      s.setTimeout(1000, () => {
        s.destroy();
        resolve(false);
      });
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`port ${port} not listening after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
