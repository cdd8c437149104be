import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SerialKeypad, type KeypadEvents } from '@keyway/agent/keypad';
import { deviceFrame, hasSocat, SimSerialKeypad } from '@keyway/hardware-sim';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { waitUntil } from '../../scripts/support/until.js';

// Needs the Debian package `socat` (real pseudo-terminals); CI installs it.
const socat = hasSocat();
if (!socat) console.warn('skipping keypad pty tests: install the Debian package "socat"');

function next<K extends keyof KeypadEvents>(keypad: SerialKeypad, event: K, timeoutMs = 5000): Promise<KeypadEvents[K]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no ${String(event)} event within ${timeoutMs} ms`));
    }, timeoutMs);
    const off = keypad.events.on(event, (payload) => {
      clearTimeout(timer);
      off();
      resolve(payload);
    });
  });
}

describe.skipIf(!socat)('serial keypad over a real pty', () => {
  let dir: string;
  let device: SimSerialKeypad;
  let keypad: SerialKeypad;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'keyway-pty-'));
    device = new SimSerialKeypad({ linkPath: join(dir, 'ttyKEYPAD') });
    await device.connect();
    keypad = new SerialKeypad({ path: device.path, reopenMs: 50 });
  });
  afterEach(async () => {
    await keypad.stop();
    await device.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('when a courier types digits and #, the driver emits the PIN', async () => {
    const connected = next(keypad, 'connected');
    await keypad.start();
    await connected;
    const pin = next(keypad, 'pin');
    await device.type('4711#');
    expect((await pin).pin).toBe('4711');
  });

  it('when accept() and reject() are called, the keypad receives green/red LED and bell commands', async () => {
    await keypad.start();
    await keypad.accept();
    await waitUntil(() => device.received.length >= 2);
    await keypad.reject();
    await waitUntil(() => device.received.length >= 4);
    expect(device.received).toEqual([
      { kind: 'led', color: 'green', ms: 3000 },
      { kind: 'bell', ms: 150 },
      { kind: 'led', color: 'red', ms: 3000 },
      { kind: 'bell', ms: 800 },
    ]);
  });

  it('when garbage, half frames and bad checksums arrive, they are skipped and the next PIN still comes through', async () => {
    await keypad.start();
    await device.write(Buffer.from([0x00, 0xff, 0x24, 0x4b, 0x2c]));
    await device.write('$K,9*00\r\n');
    await device.write('random noise\r\n');
    const pin = next(keypad, 'pin');
    await device.type('*'); // clears whatever a half frame might have left
    await device.submitPin('123456');
    expect((await pin).pin).toBe('123456');
    expect(keypad.stats.badChecksum).toBeGreaterThanOrEqual(1);
    expect(keypad.stats.garbageBytes).toBeGreaterThan(0);
  });

  it('when a PIN is too short, the driver rejects it on the keypad without emitting it', async () => {
    await keypad.start();
    const pins: string[] = [];
    keypad.events.on('pin', (e) => pins.push(e.pin));
    const red = device.nextCommand((c) => c.kind === 'led');
    await device.type('12#');
    expect(await red).toMatchObject({ color: 'red' });
    expect(pins).toEqual([]);
  });

  it('when the device disconnects, the driver reports it and reopens the port when the device comes back', async () => {
    await keypad.start();
    expect(keypad.connected).toBe(true);
    const gone = next(keypad, 'disconnected');
    await device.disconnect();
    await gone;
    expect(keypad.connected).toBe(false);
    const back = next(keypad, 'connected');
    await device.connect();
    await back;
    const pin = next(keypad, 'pin');
    await device.type('2468#');
    expect((await pin).pin).toBe('2468');
  });

  it('when a courier stops typing half-way, the half PIN is discarded after the key timeout', async () => {
    await keypad.stop();
    keypad = new SerialKeypad({ path: device.path, reopenMs: 50, keyTimeoutMs: 100 });
    await keypad.start();
    const pins: string[] = [];
    keypad.events.on('pin', (e) => pins.push(e.pin));
    await device.type('99');
    await new Promise((r) => setTimeout(r, 300));
    const pin = next(keypad, 'pin');
    // One write, so a loaded machine cannot put a key-timeout gap between these keys.
    await device.write(Buffer.concat([...'1234#'].map((key) => deviceFrame(`K,${key}`))));
    expect((await pin).pin).toBe('1234');
    expect(pins).toEqual(['1234']);
  });

  it('when the device is absent at start, the driver keeps trying and connects once it appears', async () => {
    await device.disconnect();
    await keypad.start();
    expect(keypad.connected).toBe(false);
    const connected = next(keypad, 'connected');
    await new Promise((r) => setTimeout(r, 150));
    await device.connect();
    await connected;
    const hello = next(keypad, 'hello');
    await device.hello();
    expect((await hello).model).toBe('KW-SIM-1');
  });
});

describe('serial keypad on a path that does not exist', () => {
  it('says so once at warn level, naming the path and the config key, while it keeps retrying', async () => {
    const lines: Array<{ level: number; msg: string }> = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as { level: number; msg: string }) });
    const dir = await mkdtemp(join(tmpdir(), 'keyway-nokeypad-'));
    const missing = join(dir, 'ttyUSB9');
    const keypad = new SerialKeypad({ path: missing, reopenMs: 20, logger });
    try {
      await keypad.start();
      await waitUntil(() => lines.filter((l) => l.level === 20).length >= 3, 5_000);
      const warnings = lines.filter((l) => l.level === 40);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]?.msg).toContain(`${missing} does not exist`);
      expect(warnings[0]?.msg).toContain('keypad.serialPath');
      expect(keypad.connected).toBe(false);
    } finally {
      await keypad.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
