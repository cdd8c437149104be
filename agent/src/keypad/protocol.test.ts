import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checksum, encodeFrame, FrameDecoder } from './protocol.js';

describe('keypad frame codec', () => {
  it('encodes a frame with an XOR checksum and CRLF', () => {
    expect(encodeFrame('K', '5').toString()).toBe(`$K,5*${checksum('K,5')}\r\n`);
    expect(checksum('K,5')).toBe((0x4b ^ 0x2c ^ 0x35).toString(16).toUpperCase());
  });

  it('decodes frames split at any byte boundary', () => {
    fc.assert(
      fc.property(fc.array(fc.stringMatching(/^[0-9#*]$/), { minLength: 1, maxLength: 10 }), fc.integer({ min: 1, max: 7 }), (keys, cut) => {
        const bytes = Buffer.concat(keys.map((k) => encodeFrame('K', k)));
        const d = new FrameDecoder();
        const out = [];
        for (let i = 0; i < bytes.length; i += cut) out.push(...d.push(bytes.subarray(i, i + cut)));
        expect(out.map((f) => f.fields[0])).toEqual(keys);
      }),
    );
  });

  it('skips garbage, resynchronises on a new $, and drops bad checksums and over-long frames', () => {
    const d = new FrameDecoder();
    const frames = d.push(
      Buffer.concat([
        Buffer.from('\x00\xffnoise'),
        Buffer.from('$K,1*'), // cut off by the next frame
        encodeFrame('K', '2'),
        Buffer.from('$K,3*00\r\n'),
        Buffer.from(`$${'9'.repeat(100)}*00\r\n`),
        encodeFrame('K', '#'),
      ]),
    );
    expect(frames.map((f) => f.fields[0])).toEqual(['2', '#']);
    expect(d.stats.badChecksum).toBe(1);
    expect(d.stats.tooLong).toBe(1);
    expect(d.stats.garbageBytes).toBeGreaterThan(0);
  });

  it('random bytes never throw and never yield a frame whose checksum is wrong', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const d = new FrameDecoder();
        for (const f of d.push(Buffer.from(bytes))) {
          const body = [f.type, ...f.fields].join(',');
          expect(Buffer.from(bytes).toString('latin1')).toContain(`$${body}*`);
        }
      }),
    );
  });
});
