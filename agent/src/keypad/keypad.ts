import { createLogger, ErrorCode, KeywayError, type Logger } from '@keyway/shared';
import { systemClock, type Clock, type TimerHandle } from '../hal/clock.js';
import { TypedEmitter } from '../hal/typed-emitter.js';
import { openSerialPort, type KeypadPort, type KeypadPortOpener } from './port.js';
import { encodeFrame, FrameDecoder, isKey, type DecoderStats, type Frame, type Key } from './protocol.js';

export interface KeypadEvents {
  [key: string]: unknown;
  /** A complete PIN entry, to be checked against a grant's PIN hash. */
  pin: { pin: string; at: number };
  key: { key: Key; at: number };
  hello: { model: string; firmware: string; at: number };
  connected: { path: string; at: number };
  disconnected: { path: string; reason: string; at: number };
}

export interface SerialKeypadOptions {
  /** Serial device, e.g. /dev/ttyUSB0 or a stable /dev/serial/by-id/... path. */
  path: string;
  /** Default 9600. */
  baudRate?: number;
  /** Wait between reopen attempts after the device goes away, ms. Default 1000. */
  reopenMs?: number;
  /** A half-typed PIN is discarded after this long without a key, ms. Default 10000. */
  keyTimeoutMs?: number;
  /** PIN length accepted on `#`. Default 4-12. */
  minPinLength?: number;
  maxPinLength?: number;
  clock?: Clock;
  openPort?: KeypadPortOpener;
  logger?: Logger;
}

/** How often a keypad that stays unavailable is reported again at warn level. */
export const UNAVAILABLE_REPEAT_MS = 5 * 60_000;

/**
 * Courier keypad on a serial line. Assembles key events into PIN entries (`#` submits, `*`
 * clears), gives bell/LED feedback with accept()/reject(), and keeps reopening the port while
 * the device is away.
 */
export class SerialKeypad {
  readonly events: TypedEmitter<KeypadEvents>;
  private readonly decoder = new FrameDecoder();
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly opts: Required<Pick<SerialKeypadOptions, 'baudRate' | 'reopenMs' | 'keyTimeoutMs' | 'minPinLength' | 'maxPinLength'>>;
  private port: KeypadPort | undefined;
  private started = false;
  private reopenTimer: TimerHandle | undefined;
  private keyTimer: TimerHandle | undefined;
  private digits = '';
  private connecting: Promise<void> | undefined;
  /** When the keypad's unavailability was last logged at warn; undefined while it is connected. */
  private unavailableSaidAt: number | undefined;

  constructor(private readonly options: SerialKeypadOptions) {
    this.clock = options.clock ?? systemClock;
    this.log = options.logger ?? createLogger('agent.keypad', { path: options.path });
    this.events = new TypedEmitter<KeypadEvents>((error, event) => this.log.error({ err: error, event }, 'keypad listener threw'));
    this.opts = {
      baudRate: options.baudRate ?? 9600,
      reopenMs: options.reopenMs ?? 1000,
      keyTimeoutMs: options.keyTimeoutMs ?? 10_000,
      minPinLength: options.minPinLength ?? 4,
      maxPinLength: options.maxPinLength ?? 12,
    };
  }

  get connected(): boolean {
    return this.port !== undefined;
  }

  get stats(): Readonly<DecoderStats> {
    return this.decoder.stats;
  }

  /** Opens the port, or keeps trying in the background when the device is absent. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    await this.connect();
  }

  async stop(): Promise<void> {
    this.started = false;
    if (this.reopenTimer !== undefined) this.clock.clearTimeout(this.reopenTimer);
    this.reopenTimer = undefined;
    this.clearPin();
    await this.connecting;
    const port = this.port;
    this.port = undefined;
    await port?.close();
  }

  /** Green LED and a short beep: the PIN opened the door. */
  async accept(): Promise<void> {
    await this.send(encodeFrame('L', 'G', 3000), encodeFrame('B', 150));
  }

  /** Red LED and a long beep: wrong or expired PIN. */
  async reject(): Promise<void> {
    await this.send(encodeFrame('L', 'R', 3000), encodeFrame('B', 800));
  }

  private async send(...frames: Buffer[]): Promise<void> {
    const port = this.port;
    if (!port) throw new KeywayError(ErrorCode.Unavailable, `keypad on ${this.options.path} is not connected; feedback was not shown`);
    for (const frame of frames) await port.write(frame);
  }

  private connect(): Promise<void> {
    this.connecting ??= this.tryOpen().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async tryOpen(): Promise<void> {
    const open = this.options.openPort ?? openSerialPort;
    let port: KeypadPort;
    try {
      port = await open(this.options.path, this.opts.baudRate);
    } catch (error) {
      // Said at warn once, then every UNAVAILABLE_REPEAT_MS while it lasts: a wrong path or permission must be
      // visible at the default log level, without a line every reopenMs.
      const now = this.clock.now();
      if (this.unavailableSaidAt === undefined || now - this.unavailableSaidAt >= UNAVAILABLE_REPEAT_MS) {
        this.unavailableSaidAt = now;
        this.log.warn({ path: this.options.path, retryMs: this.opts.reopenMs }, `keypad unavailable: ${(error as Error).message}; retrying`);
      } else {
        this.log.debug({ err: error }, 'keypad port not available; retrying');
      }
      this.scheduleReopen();
      return;
    }
    this.unavailableSaidAt = undefined;
    if (!this.started) {
      await port.close();
      return;
    }
    this.port = port;
    this.decoder.reset();
    port.onData((chunk) => this.onData(chunk));
    port.onClose((error) => this.onClose(port, error));
    this.log.info('keypad connected');
    this.events.emit('connected', { path: this.options.path, at: this.clock.now() });
  }

  private onClose(port: KeypadPort, error?: Error): void {
    if (this.port !== port) return;
    this.port = undefined;
    this.decoder.reset();
    this.clearPin();
    const reason = error?.message ?? 'closed';
    this.log.warn({ reason }, 'keypad disconnected; will reopen');
    this.events.emit('disconnected', { path: this.options.path, reason, at: this.clock.now() });
    this.scheduleReopen();
  }

  private scheduleReopen(): void {
    if (!this.started || this.reopenTimer !== undefined) return;
    this.reopenTimer = this.clock.setTimeout(() => {
      this.reopenTimer = undefined;
      if (this.started && !this.port) void this.connect();
    }, this.opts.reopenMs);
  }

  private onData(chunk: Buffer): void {
    for (const frame of this.decoder.push(chunk)) this.onFrame(frame);
  }

  private onFrame(frame: Frame): void {
    const at = this.clock.now();
    switch (frame.type) {
      case 'K': {
        const key = frame.fields[0] ?? '';
        if (isKey(key)) this.onKey(key, at);
        break;
      }
      case 'P': {
        this.clearPin();
        this.submit(frame.fields[0] ?? '', at);
        break;
      }
      case 'H':
        this.events.emit('hello', { model: frame.fields[0] ?? '', firmware: frame.fields[1] ?? '', at });
        break;
      default:
        this.log.debug({ type: frame.type }, 'ignoring unknown keypad frame');
    }
  }

  private onKey(key: Key, at: number): void {
    this.events.emit('key', { key, at });
    if (this.keyTimer !== undefined) this.clock.clearTimeout(this.keyTimer);
    this.keyTimer = undefined;
    if (key === '*') {
      this.digits = '';
      return;
    }
    if (key === '#') {
      const pin = this.digits;
      this.clearPin();
      this.submit(pin, at);
      return;
    }
    if (this.digits.length < this.opts.maxPinLength) this.digits += key;
    this.keyTimer = this.clock.setTimeout(() => this.clearPin(), this.opts.keyTimeoutMs);
  }

  private submit(pin: string, at: number): void {
    if (!/^\d+$/.test(pin) || pin.length < this.opts.minPinLength || pin.length > this.opts.maxPinLength) {
      // Too short or malformed: tell the courier at once instead of bothering the grant check.
      this.reject().catch(() => undefined);
      return;
    }
    this.events.emit('pin', { pin, at });
  }

  private clearPin(): void {
    this.digits = '';
    if (this.keyTimer !== undefined) this.clock.clearTimeout(this.keyTimer);
    this.keyTimer = undefined;
  }
}
