/**
 * IP address handling with EventBridge's rules: exact values and `cidr` operands that look like
 * IPv4 or IPv6 literals compare as addresses, so "10.0.0.1" equals "10.000.0.1" and "2001:DB8::1"
 * equals "2001:db8::1". Addresses are kept as upper-case hex strings of fixed width (8 or 32 digits),
 * which sort in address order, so ranges compare with plain string comparison.
 */

const IPV4_SHAPE = /^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$/;
const IPV6_SHAPE = /^[0-9a-fA-F:]*:[0-9a-fA-F:]*$/;

export interface IpRange {
  readonly lo: string;
  readonly hi: string;
}

function hex(bytes: readonly number[]): string {
  let out = '';
  for (const b of bytes) out += b.toString(16).toUpperCase().padStart(2, '0');
  return out;
}

function parseV4(text: string): number[] | null {
  const parts = text.split('.');
  const bytes: number[] = [];
  for (const part of parts) {
    // Leading zeros are read as decimal, like Java's InetAddress does.
    const value = Number.parseInt(part, 10);
    if (!Number.isFinite(value) || value > 255) return null;
    bytes.push(value);
  }
  return bytes;
}

function parseV6(text: string): number[] | null {
  const doubleColon = text.indexOf('::');
  if (doubleColon !== -1 && text.indexOf('::', doubleColon + 1) !== -1) return null;
  const parseGroups = (part: string): number[] | null => {
    if (part === '') return [];
    const groups = part.split(':');
    const out: number[] = [];
    for (const g of groups) {
      if (g.length === 0 || g.length > 4) return null;
      out.push(Number.parseInt(g, 16));
    }
    return out;
  };
  let groups: number[];
  if (doubleColon === -1) {
    const all = parseGroups(text);
    if (all === null || all.length !== 8) return null;
    groups = all;
  } else {
    const head = parseGroups(text.slice(0, doubleColon));
    const tail = parseGroups(text.slice(doubleColon + 2));
    if (head === null || tail === null || head.length + tail.length > 7) return null;
    groups = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  }
  const bytes: number[] = [];
  for (const g of groups) bytes.push(g >> 8, g & 0xff);
  // Java turns IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) into IPv4 ones; event-ruler inherits that.
  if (bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff) return bytes.slice(12);
  return bytes;
}

function parseBytes(text: string): number[] | null {
  if (IPV4_SHAPE.test(text)) return parseV4(text);
  if (IPV6_SHAPE.test(text)) return parseV6(text);
  return null;
}

/** The canonical hex form of an IP literal, or null when the text is not one. */
export function ipToHex(text: string): string | null {
  // Cheap rejection first: the matcher calls this for every string value on paths with IP patterns.
  const c = text.charCodeAt(0);
  const looksNumeric = (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102) || c === 58;
  if (!looksNumeric) return null;
  const bytes = parseBytes(text);
  return bytes === null ? null : hex(bytes);
}

/** Parses "a.b.c.d/n" or "v6::/n"; returns an error message instead of throwing. */
export function parseCidr(text: string): IpRange | string {
  const slashed = text.split('/');
  if (slashed.length !== 2) return "malformed CIDR, one '/' required";
  const [address = '', maskText = ''] = slashed;
  if (!/^[0-9]+$/.test(maskText)) return 'malformed CIDR, mask bits must be a non-negative integer';
  const maskBits = Number.parseInt(maskText, 10);
  const bytes = parseBytes(address);
  if (bytes === null) return `invalid IP address "${address}"`;
  const width = bytes.length * 8;
  if (maskBits > width) return `IPv${bytes.length === 4 ? 4 : 6} mask bits must be at most ${width}`;
  const lo: number[] = [];
  const hi: number[] = [];
  let remaining = maskBits;
  for (const b of bytes) {
    const keep = Math.max(0, Math.min(8, remaining));
    const mask = keep === 0 ? 0 : (0xff << (8 - keep)) & 0xff;
    lo.push(b & mask);
    hi.push((b & mask) | (~mask & 0xff));
    remaining -= 8;
  }
  return { lo: hex(lo), hi: hex(hi) };
}
