import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ErrorCode, isKeywayError } from '@keyway/shared';
import { hubConfigFromEnv } from './config.js';
import { startFailureMessage } from './start-failure.js';

/** The ConfigInvalid message hubConfigFromEnv throws for `env`. */
function refusal(env: NodeJS.ProcessEnv): string {
  try {
    hubConfigFromEnv(env);
  } catch (error) {
    expect(isKeywayError(error, ErrorCode.ConfigInvalid)).toBe(true);
    return (error as Error).message;
  }
  throw new Error('the configuration was accepted');
}

describe('hub configuration from the environment', () => {
  it('refuses an MQTT TLS port without its key and cert files, naming the missing variables', () => {
    const message = refusal({ KEYWAY_MQTT_TLS_PORT: '8883' });
    expect(message).toContain('KEYWAY_MQTT_TLS_KEY_FILE');
    expect(message).toContain('KEYWAY_MQTT_TLS_CERT_FILE');
    expect(message).toContain('must be set together with KEYWAY_MQTT_TLS_PORT');
  });

  it('refuses an external broker URL without a scheme', () => {
    expect(refusal({ KEYWAY_MQTT_EXTERNAL_URL: 'mosquitto:1883' })).toMatch(/KEYWAY_MQTT_EXTERNAL_URL="mosquitto:1883".*mqtt:\/\//);
    expect(hubConfigFromEnv({ KEYWAY_MQTT_EXTERNAL_URL: 'mqtts://broker.example:8883' }).mqtt).toMatchObject({ kind: 'external', url: 'mqtts://broker.example:8883' });
  });

  it('refuses an unknown log level, listing the levels', () => {
    expect(refusal({ KEYWAY_LOG_LEVEL: 'verbose' })).toMatch(/KEYWAY_LOG_LEVEL="verbose".*info/);
  });

  it('names the variable whose file cannot be read', () => {
    const missing = path.join(os.tmpdir(), `keyway-no-such-key-${process.pid}.pem`);
    expect(refusal({ KEYWAY_HUB_PRIVATE_KEY_FILE: missing })).toBe(`KEYWAY_HUB_PRIVATE_KEY_FILE="${missing}" cannot be read (ENOENT); fix the path or the file's permissions`);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyway-tls-'));
    try {
      const key = path.join(dir, 'key.pem');
      fs.writeFileSync(key, 'key');
      expect(refusal({ KEYWAY_MQTT_TLS_PORT: '0', KEYWAY_MQTT_TLS_KEY_FILE: key, KEYWAY_MQTT_TLS_CERT_FILE: path.join(dir, 'cert.pem') })).toContain('KEYWAY_MQTT_TLS_CERT_FILE=');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the start failure line', () => {
  it('names the port variables when a port is in use, however deep the EADDRINUSE', () => {
    const busy = Object.assign(new Error('listen EADDRINUSE: address already in use 127.0.0.1:8080'), { code: 'EADDRINUSE' });
    const line = startFailureMessage(new Error('the device gateway could not listen', { cause: busy }));
    expect(line).toBe(
      'hub failed to start: a port is already in use (listen EADDRINUSE: address already in use 127.0.0.1:8080); set KEYWAY_HTTP_PORT, KEYWAY_MQTT_PORT or KEYWAY_MQTT_TLS_PORT to a free port (0 picks any)',
    );
  });
});

describe('the hub entry point', () => {
  it('when a setting is wrong, it exits 1 with one plain line naming the variable, not a JSON stack', () => {
    const main = fileURLToPath(new URL('./main.ts', import.meta.url));
    const run = spawnSync(process.execPath, ['--import', 'tsx', main], {
      env: { PATH: process.env.PATH, KEYWAY_MQTT_TLS_PORT: '0', KEYWAY_LOG_LEVEL: 'info' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(run.status).toBe(1);
    expect(run.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^hub failed to start: hub configuration is invalid: KEYWAY_MQTT_TLS_KEY_FILE=undefined: must be set together/)]);
  });

  it('when its HTTP port is taken, the line names the port variables', async () => {
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    try {
      const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyway-main-'));
      const main = fileURLToPath(new URL('./main.ts', import.meta.url));
      const run = spawnSync(process.execPath, ['--import', 'tsx', main], {
        env: { PATH: process.env.PATH, KEYWAY_DATA_DIR: dataDir, KEYWAY_HTTP_PORT: String((taken.address() as AddressInfo).port), KEYWAY_MQTT_PORT: '0', KEYWAY_LOG_LEVEL: 'warn' },
        encoding: 'utf8',
        timeout: 60_000,
      });
      fs.rmSync(dataDir, { recursive: true, force: true });
      expect(run.status).toBe(1);
      expect(run.stderr).toContain('hub failed to start: a port is already in use');
      expect(run.stderr).toContain('KEYWAY_HTTP_PORT');
    } finally {
      taken.close();
    }
  }, 70_000);
});
