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

/** The process-wide root logger. Level from KEYWAY_LOG_LEVEL (default `info`; `silent` in tests). */
export function rootLogger(): Logger {
  root ??= pino({
    level: process.env.KEYWAY_LOG_LEVEL ?? (process.env.VITEST ? 'silent' : 'info'),
    redact: { paths: REDACT, censor: '[redacted]' },
    base: { pid: process.pid },
  });
  return root;
}

/** One child logger per component, e.g. `createLogger('bus.delivery')`. */
export function createLogger(component: string, bindings: Record<string, unknown> = {}): Logger {
  return rootLogger().child({ component, ...bindings });
}
