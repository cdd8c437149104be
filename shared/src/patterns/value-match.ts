import { ipToHex } from './ip-address.js';
import { foldCase } from './text-match.js';
import type { LeafValue, ValueMatcher } from './types.js';

/**
 * Whether one event leaf value satisfies one alternative. This is the plain, obviously-correct
 * definition; the compiled matcher must agree with it (property tests check that).
 * Type rules follow event-ruler: string operators never match numbers, numeric operators never
 * match strings, and `anything-but` matches any value of another type.
 */
export function valueMatches(m: ValueMatcher, v: LeafValue): boolean {
  switch (m.kind) {
    case 'exact-string':
      return v === m.value;
    case 'exact-number':
      return typeof v === 'number' && v === m.value;
    case 'literal':
      return v === m.value;
    case 'ip-range': {
      if (typeof v !== 'string') return false;
      const ip = ipToHex(v);
      return ip !== null && ip.length === m.lo.length && ip >= m.lo && ip <= m.hi;
    }
    case 'prefix':
      return typeof v === 'string' && (m.ignoreCase ? foldCase(v) : v).startsWith(m.value);
    case 'suffix':
      return typeof v === 'string' && (m.ignoreCase ? foldCase(v) : v).endsWith(m.value);
    case 'equals-ignore-case':
      return typeof v === 'string' && foldCase(v) === m.value;
    case 'wildcard':
      return typeof v === 'string' && m.regex.test(v);
    case 'numeric':
      return (
        typeof v === 'number' &&
        (m.loOpen ? v > m.lo : v >= m.lo) &&
        (m.hiOpen ? v < m.hi : v <= m.hi)
      );
    case 'exists':
      return true;
    case 'absent':
      return false;
    case 'anything-but':
      if (typeof v === 'string') return !m.strings.has(v);
      if (typeof v === 'number') return !m.numbers.has(v);
      return true;
    case 'anything-but-prefix':
      return typeof v !== 'string' || !m.values.some((p) => v.startsWith(p));
    case 'anything-but-suffix':
      return typeof v !== 'string' || !m.values.some((s) => v.endsWith(s));
    case 'anything-but-ignore-case':
      return typeof v !== 'string' || !m.values.has(foldCase(v));
    case 'anything-but-wildcard':
      return typeof v !== 'string' || !m.regexes.some((r) => r.test(v));
  }
}
