/** String helpers shared by the reference interpreter and the compiled matcher. */

/**
 * Case folding for equals-ignore-case: lower-cases code point by code point and keeps characters
 * whose lower-case form would change length, so folding never shifts prefix/suffix boundaries.
 */
export function foldCase(text: string): string {
  const lower = text.toLowerCase();
  if (lower.length === text.length) return lower;
  let out = '';
  for (const ch of text) {
    const l = ch.toLowerCase();
    out += l.length === ch.length ? l : ch;
  }
  return out;
}

export interface ParsedWildcard {
  readonly regex: RegExp;
  readonly literalPrefix: string;
  readonly literalSuffix: string;
}

function escapeRegex(ch: string): string {
  return /[\\^$.*+?()[\]{}|]/.test(ch) ? `\\${ch}` : ch;
}

/**
 * Parses a wildcard operand: `*` matches any run of characters, `\*` is a literal star and `\\`
 * a literal backslash. Returns an error message for `**` or any other escape, as event-ruler does.
 */
export function parseWildcard(source: string): ParsedWildcard | string {
  let regex = '^';
  let literal = '';
  let literalPrefix: string | null = null;
  for (let i = 0; i < source.length; i++) {
    const ch = source[i] ?? '';
    if (ch === '*') {
      if (source[i + 1] === '*') return `consecutive wildcard characters at pos ${i}`;
      if (literalPrefix === null) literalPrefix = literal;
      literal = '';
      regex += '[\\s\\S]*';
    } else if (ch === '\\') {
      const next = source[i + 1];
      if (next !== '*' && next !== '\\') return `invalid escape character at pos ${i}`;
      literal += next;
      regex += escapeRegex(next);
      i++;
    } else {
      literal += ch;
      regex += escapeRegex(ch);
    }
  }
  regex += '$';
  return {
    regex: new RegExp(regex),
    literalPrefix: literalPrefix ?? literal,
    // Text after the last star; the whole literal when there is no star.
    literalSuffix: literal,
  };
}
