/**
 * The hub's entry point (the container's too): configuration from environment variables, graceful shutdown on
 * SIGTERM/SIGINT.
 */
import { createLogger } from '@keyway/shared';
import { hubConfigFromEnv } from './config.js';
import { Hub } from './hub.js';
import { startFailureMessage } from './start-failure.js';
import { describeTarget } from './storage/postgres/index.js';

const log = createLogger('hub.main');

async function main(): Promise<void> {
  const config = hubConfigFromEnv();
  const hub = new Hub(config);
  await hub.start();
  // The storage profile, never the connection string (it may hold the database password).
  const storage = config.postgres ? `postgres ${describeTarget(config.postgres.connectionString)}` : 'sqlite';
  log.info({ api: hub.httpUrl, mqtt: hub.mqttUrl, storage }, 'Keyway hub ready');
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    hub.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        log.error({ err: error }, 'stop failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main().catch((error: unknown) => {
  // One plain line an operator can act on (it names the variable to change); the stack only at debug level.
  process.stderr.write(`${startFailureMessage(error)}\n`);
  log.debug({ err: error }, 'start failure');
  process.exit(1);
});
