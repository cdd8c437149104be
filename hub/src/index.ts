export { Hub, SERVICE_ACCOUNTS, type HubConfig } from './hub.js';
export { hubConfigFromEnv } from './config.js';
export { portInUse, startFailureMessage } from './start-failure.js';
