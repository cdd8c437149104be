/**
 * The keypad's side of the Keyway keypad protocol (agent/src/keypad/PROTOCOL.md): it sends
 * key/PIN/hello frames and reads bell/LED commands. Written independently of the agent's
 * codec on purpose, so the pty tests check the two ends against each other.
 */
export function deviceChecksum(body: string): string {
  let x = 0;
  for (const ch of body) x ^= ch.charCodeAt(0) & 0xff;
  return x.toString(16).toUpperCase().padStart(2, '0');
}

export function deviceFrame(body: string): Buffer {
  return Buffer.from(`$${body}*${deviceChecksum(body)}\r\n`, 'ascii');
}

export type HostCommand =
  | { kind: 'bell'; ms: number }
  | { kind: 'led'; color: 'green' | 'red' | 'off'; ms: number }
  | { kind: 'unknown'; raw: string };

/** Parses complete host lines; bad checksums are dropped as a real keypad would. */
export class HostCommandReader {
  private pending = '';

  push(chunk: Buffer): HostCommand[] {
    this.pending += chunk.toString('latin1');
    const out: HostCommand[] = [];
    let nl: number;
    while ((nl = this.pending.indexOf('\n')) >= 0) {
      const line = this.pending.slice(0, nl).replace(/\r$/, '');
      this.pending = this.pending.slice(nl + 1);
      const m = /^\$([^*]*)\*([0-9A-F]{2})$/i.exec(line.slice(line.lastIndexOf('$')));
      if (!m || deviceChecksum(m[1] ?? '') !== (m[2] ?? '').toUpperCase()) continue;
      const [type, a, b] = (m[1] ?? '').split(',');
      if (type === 'B') out.push({ kind: 'bell', ms: Number(a) });
      else if (type === 'L') out.push({ kind: 'led', color: a === 'G' ? 'green' : a === 'R' ? 'red' : 'off', ms: Number(b) });
      else out.push({ kind: 'unknown', raw: m[1] ?? '' });
    }
    return out;
  }
}
