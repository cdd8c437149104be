import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { waitForPort } from './ports.js';

/** True when Debian's `mosquitto` package is installed. */
export const mosquittoInstalled = spawnSync('mosquitto', ['-h']).error === undefined;

/** A mosquitto.conf for a throwaway broker on 127.0.0.1:`port` using `dir`/passwd and `dir`/acl. */
function mosquittoConf(dir: string, port: number): string {
  return [
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
}

export interface MosquittoProcess {
  readonly child: ChildProcess;
  /** SIGTERM, then waits for the exit. */
  stop(): Promise<void>;
}

/**
 * Writes `dir`/mosquitto.conf and starts mosquitto on 127.0.0.1:`port` with the password file and
 * ACL already in `dir`; resolves once it listens, or throws with its stderr.
 */
export async function launchMosquitto(dir: string, port: number): Promise<MosquittoProcess> {
  writeFileSync(join(dir, 'mosquitto.conf'), mosquittoConf(dir, port));
  const child = spawn('mosquitto', ['-c', join(dir, 'mosquitto.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  try {
    await waitForPort(port, 5_000, 'mosquitto');
  } catch (error) {
    child.kill('SIGKILL');
    throw new Error(`${(error as Error).message}: ${stderr}`);
  }
  return {
    child,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
