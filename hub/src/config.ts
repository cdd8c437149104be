import fs from 'node:fs';
import { z } from 'zod';
import { ErrorCode, KeywayError, LOG_LEVELS } from '@keyway/shared';
import type { HubConfig } from './hub.js';

const port = z.coerce.number().int().min(0).max(65535);

/** Environment variables the hub reads (the container is configured only through these). */
export const HubEnv = z.object({
  KEYWAY_DATA_DIR: z.string().min(1).default('./.data/hub'),
  KEYWAY_HTTP_HOST: z.string().default('127.0.0.1'),
  KEYWAY_HTTP_PORT: port.default(8080),
  KEYWAY_MQTT_HOST: z.string().default('127.0.0.1'),
  KEYWAY_MQTT_PORT: port.default(1883),
  KEYWAY_MQTT_TLS_PORT: port.optional(),
  KEYWAY_MQTT_TLS_KEY_FILE: z.string().optional(),
  KEYWAY_MQTT_TLS_CERT_FILE: z.string().optional(),
  KEYWAY_MQTT_TLS_CA_FILE: z.string().optional(),
  /** When set, devices connect to this external broker instead of the embedded one, e.g. mqtt://mosquitto:1883. */
  KEYWAY_MQTT_EXTERNAL_URL: z
    .string()
    .regex(/^(mqtts?|wss?):\/\/[^/]/, 'must be a broker URL starting with mqtt://, mqtts://, ws:// or wss://, e.g. mqtt://mosquitto:1883')
    .optional(),
  KEYWAY_MQTT_EXTERNAL_USERNAME: z.string().optional(),
  KEYWAY_MQTT_EXTERNAL_PASSWORD: z.string().optional(),
  KEYWAY_MQTT_SHARE_GROUP: z.string().optional(),
  /**
   * Scale-out profile: postgres://user:password@host:5432/db. Bus, hub state and the registry audit chain live there,
   * shared by every replica; absent, SQLite files in KEYWAY_DATA_DIR (the embedded default).
   */
  KEYWAY_DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must start with postgres:// or postgresql://')
    .optional(),
  KEYWAY_DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(200).optional(),
  KEYWAY_DATABASE_STATEMENT_TIMEOUT_MS: z.coerce.number().int().min(100).optional(),
  /** How long a replica holds a claimed bus delivery, ms; after a replica dies its claims are retried this much later. */
  KEYWAY_BUS_LEASE_MS: z.coerce.number().int().min(1000).optional(),
  KEYWAY_ADMIN_API_KEY: z.string().min(20).optional(),
  KEYWAY_HUB_PRIVATE_KEY_FILE: z.string().optional(),
  KEYWAY_SUBSCRIBERS_FILE: z.string().optional(),
  KEYWAY_LOG_LEVEL: z.enum(LOG_LEVELS).optional(),
}).superRefine((e, ctx) => {
  // The embedded broker's TLS listener needs all three; one or two of them alone would start a hub without TLS.
  const tls = ['KEYWAY_MQTT_TLS_PORT', 'KEYWAY_MQTT_TLS_KEY_FILE', 'KEYWAY_MQTT_TLS_CERT_FILE'] as const;
  const set = tls.filter((name) => e[name] !== undefined);
  if (set.length > 0 && set.length < tls.length) {
    for (const name of tls.filter((n) => e[n] === undefined)) {
      ctx.addIssue({ code: 'custom', path: [name], message: `must be set together with ${set.join(' and ')} (the MQTT TLS listener needs port, key file and cert file)` });
    }
  }
});

/** Reads the hub's configuration from the environment; every error names the variable, its value and what is allowed. */
export function hubConfigFromEnv(env: NodeJS.ProcessEnv = process.env): HubConfig {
  const parsed = HubEnv.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${String(i.path[0])}=${JSON.stringify(env[String(i.path[0])])}: ${i.message}`);
    throw new KeywayError(ErrorCode.ConfigInvalid, `hub configuration is invalid: ${problems.join('; ')}`, { details: { problems } });
  }
  const e = parsed.data;
  const read = (file: string | undefined, variable: string): string | undefined => {
    if (!file) return undefined;
    try {
      return fs.readFileSync(file, 'utf8');
    } catch (error) {
      throw new KeywayError(ErrorCode.ConfigInvalid, `${variable}=${JSON.stringify(file)} cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)}); fix the path or the file's permissions`, {
        cause: error,
        details: { variable, file },
      });
    }
  };
  const tls =
    e.KEYWAY_MQTT_TLS_PORT !== undefined && e.KEYWAY_MQTT_TLS_KEY_FILE && e.KEYWAY_MQTT_TLS_CERT_FILE
      ? {
          port: e.KEYWAY_MQTT_TLS_PORT,
          key: read(e.KEYWAY_MQTT_TLS_KEY_FILE, 'KEYWAY_MQTT_TLS_KEY_FILE')!,
          cert: read(e.KEYWAY_MQTT_TLS_CERT_FILE, 'KEYWAY_MQTT_TLS_CERT_FILE')!,
          ...(e.KEYWAY_MQTT_TLS_CA_FILE ? { ca: read(e.KEYWAY_MQTT_TLS_CA_FILE, 'KEYWAY_MQTT_TLS_CA_FILE')!, requestCert: true } : {}),
        }
      : undefined;
  return {
    dataDir: e.KEYWAY_DATA_DIR,
    http: { host: e.KEYWAY_HTTP_HOST, port: e.KEYWAY_HTTP_PORT },
    mqtt: e.KEYWAY_MQTT_EXTERNAL_URL
      ? {
          kind: 'external',
          url: e.KEYWAY_MQTT_EXTERNAL_URL,
          ...(e.KEYWAY_MQTT_EXTERNAL_USERNAME ? { username: e.KEYWAY_MQTT_EXTERNAL_USERNAME } : {}),
          ...(e.KEYWAY_MQTT_EXTERNAL_PASSWORD ? { password: e.KEYWAY_MQTT_EXTERNAL_PASSWORD } : {}),
          ...(e.KEYWAY_MQTT_SHARE_GROUP ? { shareGroup: e.KEYWAY_MQTT_SHARE_GROUP } : {}),
        }
      : { kind: 'embedded', host: e.KEYWAY_MQTT_HOST, port: e.KEYWAY_MQTT_PORT, ...(tls ? { tls } : {}) },
    ...(e.KEYWAY_DATABASE_URL
      ? {
          postgres: {
            connectionString: e.KEYWAY_DATABASE_URL,
            ...(e.KEYWAY_DATABASE_POOL_SIZE !== undefined ? { poolSize: e.KEYWAY_DATABASE_POOL_SIZE } : {}),
            ...(e.KEYWAY_DATABASE_STATEMENT_TIMEOUT_MS !== undefined ? { statementTimeoutMs: e.KEYWAY_DATABASE_STATEMENT_TIMEOUT_MS } : {}),
          },
        }
      : {}),
    ...(e.KEYWAY_BUS_LEASE_MS !== undefined ? { busLeaseMs: e.KEYWAY_BUS_LEASE_MS } : {}),
    ...(e.KEYWAY_ADMIN_API_KEY ? { adminApiKey: e.KEYWAY_ADMIN_API_KEY } : {}),
    ...(e.KEYWAY_HUB_PRIVATE_KEY_FILE ? { hubPrivateKeyPem: read(e.KEYWAY_HUB_PRIVATE_KEY_FILE, 'KEYWAY_HUB_PRIVATE_KEY_FILE')! } : {}),
    ...(e.KEYWAY_SUBSCRIBERS_FILE ? { subscribersFile: e.KEYWAY_SUBSCRIBERS_FILE } : {}),
  };
}
