import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mosquittoConf } from '../support/mosquitto-conf.js';
import { freePort, waitForPort } from '../support/ports.js';

/** True when Debian's `mosquitto` package is installed. */
export const hasMosquitto = spawnSync('mosquitto', ['-h']).error === undefined;

export interface RunningMosquitto {
  url: string;
  stop(): Promise<void>;
}

/** Starts mosquitto on an ephemeral 127.0.0.1 port with the given password and ACL file texts. */
export async function startMosquitto(dir: string, passwords: string, acl: string): Promise<RunningMosquitto> {
  const port = await freePort();
  writeFileSync(join(dir, 'passwd'), passwords, { mode: 0o600 });
  writeFileSync(join(dir, 'acl'), acl, { mode: 0o600 });
  const conf = mosquittoConf(dir, port);
  writeFileSync(join(dir, 'mosquitto.conf'), conf);
  const child: ChildProcess = spawn('mosquitto', ['-c', join(dir, 'mosquitto.conf')], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  try {
    await waitForPort(port, 5_000, 'mosquitto');
  } catch (error) {
    child.kill('SIGKILL');
    throw new Error(`${(error as Error).message}: ${stderr}`);
  }
  return {
    url: `mqtt://127.0.0.1:${port}`,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
