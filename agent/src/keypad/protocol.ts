/**
 * Keyway keypad line protocol (see PROTOCOL.md): `$TYPE,field,...*HH\r\n`, HH being the XOR
 * of every byte between `$` and `*` as two hex digits. ASCII so a technician can read it on a
 * terminal; a checksum because cheap RS-485/TTL links do flip bits.
 */
export const MAX_FRAME_BYTES = 64;

export type Frame = { type: string; fields: string[] };

export function checksum(body: string): string {
  let x = 0;
  for (let i = 0; i < body.length; i++) x ^= body.charCodeAt(i) & 0xff;
  return x.toString(16).toUpperCase().padStart(2, '0');
}

export function encodeFrame(type: string, ...fields: Array<string | number>): Buffer {
  const body = [type, ...fields.map(String)].join(',');
  // `*` may appear in the body (the star key): the checksum follows the last `*`.
  if (/[$\r\n]/.test(body)) throw new RangeError(`keypad frame body may not contain $ CR LF: ${JSON.stringify(body)}`);
  const frame = `$${body}*${checksum(body)}\r\n`;
  if (frame.length > MAX_FRAME_BYTES) throw new RangeError(`keypad frame longer than ${MAX_FRAME_BYTES} bytes`);
  return Buffer.from(frame, 'ascii');
}

export interface DecoderStats {
  frames: number;
  /** Bytes outside any frame. */
  garbageBytes: number;
  badChecksum: number;
  tooLong: number;
}

/**
 * Splits a byte stream into frames. Garbage before `$` is skipped, a `$` inside a frame restarts
 * it (resynchronises after a cut-off frame), over-long and mis-checksummed frames are dropped.
 */
export class FrameDecoder {
  readonly stats: DecoderStats = { frames: 0, garbageBytes: 0, badChecksum: 0, tooLong: 0 };
  private buffer = '';
  private inFrame = false;

  push(chunk: Buffer | string): Frame[] {
    const text = typeof chunk === 'string' ? chunk : chunk.toString('latin1');
    const frames: Frame[] = [];
    for (const ch of text) {
      if (ch === '$') {
        if (this.inFrame) this.stats.garbageBytes += this.buffer.length + 1;
        this.inFrame = true;
        this.buffer = '';
        continue;
      }
      if (!this.inFrame) {
        if (ch !== '\r' && ch !== '\n') this.stats.garbageBytes++;
        continue;
      }
      if (ch === '\n') {
        const frame = this.finish(this.buffer.endsWith('\r') ? this.buffer.slice(0, -1) : this.buffer);
        if (frame) frames.push(frame);
        this.inFrame = false;
        this.buffer = '';
        continue;
      }
      this.buffer += ch;
      if (this.buffer.length > MAX_FRAME_BYTES) {
        this.stats.tooLong++;
        this.inFrame = false;
        this.buffer = '';
      }
    }
    return frames;
  }

  /** Forgets a half-received frame (after a disconnect). */
  reset(): void {
    this.inFrame = false;
    this.buffer = '';
  }

  private finish(content: string): Frame | undefined {
    const star = content.lastIndexOf('*');
    if (star < 1 || content.length - star !== 3) {
      this.stats.badChecksum++;
      return undefined;
    }
    const body = content.slice(0, star);
    if (checksum(body) !== content.slice(star + 1).toUpperCase()) {
      this.stats.badChecksum++;
      return undefined;
    }
    this.stats.frames++;
    const [type = '', ...fields] = body.split(',');
    return { type, fields };
  }
}

/** Keys a keypad reports. */
export const KEYS = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '#'] as const;
export type Key = (typeof KEYS)[number];

export function isKey(value: string): value is Key {
  return (KEYS as readonly string[]).includes(value);
}
