import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { launchMosquitto } from '../support/mosquitto.js';
import { freePort } from '../support/ports.js';

export interface RunningMosquitto {
  url: string;
  stop(): Promise<void>;
}

/** Starts mosquitto on an ephemeral 127.0.0.1 port with the given password and ACL file texts. */
export async function startMosquitto(dir: string, passwords: string, acl: string): Promise<RunningMosquitto> {
  const port = await freePort();
  writeFileSync(join(dir, 'passwd'), passwords, { mode: 0o600 });
  writeFileSync(join(dir, 'acl'), acl, { mode: 0o600 });
  const mosquitto = await launchMosquitto(dir, port);
  return { url: `mqtt://127.0.0.1:${port}`, stop: () => mosquitto.stop() };
}
