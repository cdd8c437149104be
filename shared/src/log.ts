import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

const REDACT = [
  '*.apiKey',
  '*.token',
  '*.password',
  '*.secret',
  '*.privateKey',
  '*.authorization',
  'headers.authorization',
  'req.headers.authorization',
  'req.headers["x-api-key"]',
];

let root: Logger | undefined;

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/**
 * The process-wide root logger. Level from KEYWAY_LOG_LEVEL (default `info`; `silent` in tests). An unknown level is
 * said in a warn line and `info` is used: a typo in an environment file must not keep a door controller from starting.
 */
export function rootLogger(): Logger {
  if (root) return root;
  const asked = process.env.KEYWAY_LOG_LEVEL;
  const known = asked === undefined || (LOG_LEVELS as readonly string[]).includes(asked);
  root = pino({
    level: known ? (asked ?? (process.env.VITEST ? 'silent' : 'info')) : 'info',
    redact: { paths: REDACT, censor: '[redacted]' },
    base: { pid: process.pid },
  });
  if (!known) root.warn(`KEYWAY_LOG_LEVEL=${JSON.stringify(asked)} is not a log level (use one of ${LOG_LEVELS.join(', ')}); logging at info`);
  return root;
}

/** One child logger per component, e.g. `createLogger('bus.delivery')`. */
export function createLogger(component: string, bindings: Record<string, unknown> = {}): Logger {
  return rootLogger().child({ component, ...bindings });
}
