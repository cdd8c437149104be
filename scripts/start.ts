/**
 * `npm start`: the hub on its embedded default (embedded MQTT broker, SQLite in ./.data) plus one simulated garage
 * running the real agent code against the hardware simulator. Ctrl-C stops both cleanly.
 */
import './support/quiet-logs.js';
import path from 'node:path';
import { createLogger } from '@keyway/shared';
import { Hub, hubConfigFromEnv, portInUse } from '@keyway/hub';
import { startSimulatedSite } from './support/simulated-site.js';

const log = createLogger('start');

async function main(): Promise<void> {
  const env = { KEYWAY_DATA_DIR: path.resolve('.data/hub'), ...process.env };
  const config = hubConfigFromEnv(env);
  const hub = new Hub(config);
  try {
    await hub.start();
  } catch (error) {
    const busy = portInUse(error);
    if (busy !== undefined) {
      console.error(`A port is already in use (${busy.message}). Set KEYWAY_HTTP_PORT / KEYWAY_MQTT_PORT to free ports (0 picks any) and run npm start again.`);
      process.exit(1);
    }
    throw error;
  }
  const mqtt = new URL(hub.mqttUrl);
  const deviceId = process.env.KEYWAY_SIM_DEVICE ?? 'garage-1';
  const site = await startSimulatedSite({
    hubUrl: hub.httpUrl,
    adminKey: hub.adminApiKey,
    broker: { host: mqtt.hostname, port: Number(mqtt.port) },
    deviceId,
    customerId: 'customer-1',
    dataDir: path.resolve('.data', deviceId),
    travelMs: 3000,
  });
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    void (async () => {
      await site.stop();
      await hub.stop();
      process.exit(0);
    })();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  const now = Date.now();
  console.log(`
Keyway is running.
  API        ${hub.httpUrl}   (OpenAPI: ${hub.httpUrl}/openapi.json, metrics: ${hub.httpUrl}/metrics)
  MQTT       ${hub.mqttUrl}   (embedded broker)
  admin key  ${hub.adminApiKey}   (also in ${path.join(config.dataDir, 'admin-key')})
  garage     ${deviceId}   (simulated door, real agent; data in .data/${deviceId})

Try it:
  curl -s -H 'x-api-key: ${hub.adminApiKey}' -H 'content-type: application/json' \\
    -d '{"customerId":"customer-1","deviceId":"${deviceId}","courierId":"courier-7","windowStart":"${new Date(now).toISOString()}","windowEnd":"${new Date(now + 3600_000).toISOString()}"}' \\
    ${hub.httpUrl}/v1/deliveries
  then POST ${hub.httpUrl}/v1/deliveries/<id>/arrived, /unlock and /package-placed, and GET /v1/deliveries/<id>/timeline.
  npm run demo runs a whole delivery, with a network cut, and prints its timeline.

Ctrl-C stops everything.`);
}

main().catch((error: unknown) => {
  log.fatal({ err: error }, 'could not start');
  console.error(error);
  process.exit(1);
});
