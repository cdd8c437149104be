/** The scale-out profile's configuration and its start-up errors; needs no PostgreSQL or broker. */
import fs from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ErrorCode, isKeywayError } from '@keyway/shared';
import { Hub, hubConfigFromEnv } from '@keyway/hub';

describe('scale-out configuration', () => {
  it('when KEYWAY_DATABASE_URL is set, the hub is configured for PostgreSQL with the given pool and statement limits', () => {
    const config = hubConfigFromEnv({
      KEYWAY_DATABASE_URL: 'postgres://hub:pw@db:5432/keyway',
      KEYWAY_DATABASE_POOL_SIZE: '7',
      KEYWAY_DATABASE_STATEMENT_TIMEOUT_MS: '2500',
      KEYWAY_BUS_LEASE_MS: '4000',
      KEYWAY_MQTT_EXTERNAL_URL: 'mqtt://mosquitto:1883',
      KEYWAY_MQTT_SHARE_GROUP: 'keyway',
    });
    expect(config.postgres).toEqual({ connectionString: 'postgres://hub:pw@db:5432/keyway', poolSize: 7, statementTimeoutMs: 2500 });
    expect(config.busLeaseMs).toBe(4000);
    expect(config.mqtt).toMatchObject({ kind: 'external', shareGroup: 'keyway' });
  });

  it('when KEYWAY_DATABASE_URL is absent, the embedded default (SQLite files, embedded broker) is unchanged', () => {
    const config = hubConfigFromEnv({});
    expect(config.postgres).toBeUndefined();
    expect(config.busLeaseMs).toBeUndefined();
    expect(config.mqtt.kind).toBe('embedded');
  });

  it('when KEYWAY_DATABASE_URL is not a postgres:// URL, configuration fails naming the variable', () => {
    let error: unknown;
    try {
      hubConfigFromEnv({ KEYWAY_DATABASE_URL: 'mysql://db/keyway' });
    } catch (e) {
      error = e;
    }
    expect(isKeywayError(error, ErrorCode.ConfigInvalid)).toBe(true);
    expect((error as Error).message).toMatch(/KEYWAY_DATABASE_URL="mysql:\/\/db\/keyway".*postgres:\/\//);
  });

  it('when PostgreSQL is unreachable at start, the hub refuses to start with UNAVAILABLE naming the address, not the password', async () => {
    // A port that was free a moment ago: nothing listens there.
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyway-scale-config-'));
    const hub = new Hub({
      dataDir,
      http: { host: '127.0.0.1', port: 0 },
      mqtt: { kind: 'embedded', host: '127.0.0.1', port: 0 },
      postgres: { connectionString: `postgres://hub:s3cret-pw@127.0.0.1:${port}/keyway`, connectTimeoutMs: 1000 },
    });
    try {
      const error: unknown = await hub.start().catch((e: unknown) => e);
      expect(isKeywayError(error, ErrorCode.Unavailable)).toBe(true);
      expect((error as Error).message).toContain(`127.0.0.1:${port}`);
      expect((error as Error).message).not.toContain('s3cret-pw');
    } finally {
      await hub.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
