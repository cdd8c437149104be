/**
 * A throwaway mosquitto for the scale-out tests: 127.0.0.1 on a free port, no anonymous clients, a password file and
 * ACL generated from the hub's device registry (renderMosquittoAcl/Passwords), reloaded with SIGHUP when devices are
 * provisioned. Needs Debian's `mosquitto` package.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { launchMosquitto, type MosquittoProcess } from '../support/mosquitto.js';
import { freePort } from '../support/ports.js';
import { renderMosquittoAcl, renderMosquittoPasswords } from '@keyway/hub/gateway';

export const MOSQUITTO_MISSING =
  'mosquitto not found: install the Debian package `mosquitto` (apt-get install mosquitto)';

export const HUB_USER = 'keyway-hub';
export const HUB_PASSWORD = 'hub-service-secret';

export interface ScaleBroker {
  url: string;
  port: number;
  /** Rewrites the password file and ACL for these devices (tokens in clear, as provisioning returned them) and reloads. */
  provision(devices: readonly { id: string; token: string }[]): Promise<void>;
  /** Stops mosquitto, waits `downMs` with nothing listening, and starts it again on the same port. */
  restart(downMs: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startScaleBroker(dir: string): Promise<ScaleBroker> {
  const port = await freePort();
  const devices = new Map<string, string>();
  const write = (): void => {
    const list = [...devices].map(([id, token]) => ({ id, token }));
    writeFileSync(join(dir, 'passwd'), renderMosquittoPasswords(list, { user: HUB_USER, password: HUB_PASSWORD }), {
      mode: 0o600,
    });
    // The hub user's `topic readwrite keyway/v1/d/#` also covers its `$share/keyway/keyway/v1/d/+/...` subscriptions:
    // mosquitto checks a shared subscription against the filter after the share name.
    writeFileSync(join(dir, 'acl'), renderMosquittoAcl(list, { hubUser: HUB_USER }), { mode: 0o600 });
  };
  write();
  let mosquitto: MosquittoProcess = await launchMosquitto(dir, port);
  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    async provision(list) {
      for (const d of list) devices.set(d.id, d.token);
      write();
      mosquitto.child.kill('SIGHUP');
      // mosquitto reloads between network loop iterations; give it a moment.
      await new Promise((r) => setTimeout(r, 200));
    },
    async restart(downMs) {
      await mosquitto.stop();
      await new Promise((r) => setTimeout(r, downMs));
      mosquitto = await launchMosquitto(dir, port);
    },
    stop: () => mosquitto.stop(),
  };
}
