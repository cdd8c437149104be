import { describeError } from '@keyway/shared';

/** The EADDRINUSE error behind a start failure, however deep (the gateway wraps its listen error in a KeywayError). */
export function portInUse(error: unknown): Error | undefined {
  for (let e = error; e instanceof Error; e = e.cause) {
    if ((e as NodeJS.ErrnoException).code === 'EADDRINUSE') return e;
  }
  return undefined;
}

/** One line saying why the hub did not start and what to change; the stack is for debug logs only. */
export function startFailureMessage(error: unknown): string {
  const busy = portInUse(error);
  if (busy !== undefined) {
    return `hub failed to start: a port is already in use (${busy.message}); set KEYWAY_HTTP_PORT, KEYWAY_MQTT_PORT or KEYWAY_MQTT_TLS_PORT to a free port (0 picks any)`;
  }
  return `hub failed to start: ${describeError(error)}`;
}
