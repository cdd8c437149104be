import { stat } from 'node:fs/promises';
import { ErrorCode, KeywayError } from '@keyway/shared';
import { assertReadWrite } from '../hal/access.js';

/**
 * The byte pipe the keypad driver talks through. The real one is `serialport`; anything else
 * (a pty, a socket) can stand in, and the driver cannot tell.
 */
export interface KeypadPort {
  write(data: Buffer): Promise<void>;
  close(): Promise<void>;
  onData(listener: (chunk: Buffer) => void): void;
  /** Called once when the port goes away (unplugged, device gone, closed). */
  onClose(listener: (error?: Error) => void): void;
}

export type KeypadPortOpener = (path: string, baudRate: number) => Promise<KeypadPort>;

/** How often the device path is checked for having vanished, ms. */
const PATH_WATCH_MS = 500;

/**
 * Throws HardwareUnavailable naming what to fix when the device node is missing (config or cable) or not readable
 * and writable (the group to join); serialport's own errors say neither.
 */
export async function assertSerialPath(path: string): Promise<void> {
  if ((await stat(path).catch(() => undefined)) === undefined) {
    throw new KeywayError(ErrorCode.HardwareUnavailable, `keypad serial port ${path} does not exist; check keypad.serialPath in the config and the keypad's cable`, {
      details: { path },
    });
  }
  await assertReadWrite(path, 'serial keypad');
}

/** Opens a serial port with `serialport` (imported lazily: only agents with a keypad load it). */
export const openSerialPort: KeypadPortOpener = async (path, baudRate) => {
  await assertSerialPath(path);
  const { SerialPort } = await import('serialport');
  const port = new SerialPort({ path, baudRate, autoOpen: false });
  await new Promise<void>((resolve, reject) => {
    port.open((error) => {
      if (error) {
        reject(
          new KeywayError(ErrorCode.HardwareUnavailable, `cannot open keypad serial port ${path}: ${error.message}; check the cable, the path and membership of group "dialout"`, {
            cause: error,
            details: { path },
          }),
        );
      } else resolve();
    });
  });
  let closed = false;
  const closeListeners: Array<(error?: Error) => void> = [];
  const fireClose = (error?: Error): void => {
    if (closed) return;
    closed = true;
    clearInterval(watch);
    for (const l of closeListeners) l(error);
  };
  // A read error does not always surface when the device goes (a pty whose master closes
  // while no read is pending, some USB adapters): also watch the device node itself.
  const device = await stat(path).catch(() => undefined);
  const watch = setInterval(() => {
    stat(path).then(
      (now) => {
        if (device && now.rdev !== device.rdev) gone(new Error(`${path} now points to another device`));
      },
      (error: unknown) => gone(error instanceof Error ? error : new Error(String(error))),
    );
  }, PATH_WATCH_MS);
  watch.unref();
  const gone = (error: Error): void => {
    if (closed) return;
    if (port.isOpen) port.close(() => fireClose(error));
    else fireClose(error);
  };
  port.on('close', (error?: Error) => fireClose(error ?? undefined));
  // Read errors (EIO when the device vanishes) arrive here; the port is unusable after them.
  port.on('error', (error: Error) => {
    if (port.isOpen) port.close(() => fireClose(error));
    else fireClose(error);
  });
  return {
    write: (data) =>
      new Promise<void>((resolve, reject) => {
        port.write(data, (error) => (error ? reject(error) : resolve()));
      }),
    close: () =>
      new Promise<void>((resolve) => {
        if (!port.isOpen) {
          fireClose();
          resolve();
          return;
        }
        port.close(() => {
          fireClose();
          resolve();
        });
      }),
    onData: (listener) => port.on('data', listener),
    onClose: (listener) => closeListeners.push(listener),
  };
};
