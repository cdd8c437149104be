import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

/** True when a unix datagram receiver (python3) and Debian's systemd-notify are available. */
export const canReceiveNotify =
  spawnSync('python3', ['-c', 'import socket; socket.AF_UNIX']).status === 0 && spawnSync('systemd-notify', ['--help']).status === 0;

export interface NotifyReceiver {
  path: string;
  messages: string[];
  stop(): Promise<void>;
}

/**
 * Stands in for systemd's notification socket: a unix datagram socket (Node has none, so python3 binds it)
 * that records every message, as NOTIFY_SOCKET receives them.
 */
export async function startNotifyReceiver(dir: string): Promise<NotifyReceiver> {
  const path = join(dir, 'notify.sock');
  const script = [
    'import socket, sys',
    's = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)',
    `s.bind(${JSON.stringify(path)})`,
    'print("bound", flush=True)',
    'while True:',
    '    data = s.recv(4096)',
    '    print(data.decode().replace("\\n", "|"), flush=True)',
  ].join('\n');
  const child: ChildProcess = spawn('python3', ['-c', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  const messages: string[] = [];
  let buffered = '';
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`notify receiver exited with ${code}`)));
    child.stdout?.on('data', (d: Buffer) => {
      buffered += d.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const l of lines) {
        if (l === 'bound') resolve();
        else messages.push(l);
      }
    });
  });
  return {
    path,
    messages,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
