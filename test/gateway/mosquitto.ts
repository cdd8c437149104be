import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
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
  const conf = [
    `listener ${port} 127.0.0.1`,
    'allow_anonymous false',
    `password_file ${join(dir, 'passwd')}`,
    `acl_file ${join(dir, 'acl')}`,
    // Run as ourselves: as root mosquitto would switch to the "mosquitto" user, who cannot read our temp folder.
    `user ${userInfo().username}`,
    'persistence false',
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    '',
  ].join('\n');
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
