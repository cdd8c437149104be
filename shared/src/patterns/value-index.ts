import { IntervalIndex, type NumericInterval } from './interval-index.js';
import { ipToHex } from './ip-address.js';
import { foldCase } from './text-match.js';
import type { LeafValue, ValueMatcher } from './types.js';
import { valueMatches } from './value-match.js';

/** Something a value can lead to; `mark` lets a lookup report each target once without a Set. */
export interface IndexTarget {
  mark: number;
}

interface Entry<T> {
  readonly matcher: ValueMatcher;
  readonly target: T;
}

/** Text keyed by a set of lengths, so affix lookups cost one Map probe per distinct length. */
class AffixTable<V> {
  readonly map = new Map<string, V[]>();
  lengths: number[] = [];

  add(key: string, v: V): void {
    const list = this.map.get(key);
    if (list) list.push(v);
    else this.map.set(key, [v]);
  }

  seal(): void {
    this.lengths = [...new Set([...this.map.keys()].map((k) => k.length))].sort((a, b) => a - b);
  }

  /** Lists stored under every prefix (or suffix) of text, appended to `into`. */
  collect(text: string, fromEnd: boolean, into: V[][]): void {
    const lengths = this.lengths;
    for (let i = 0; i < lengths.length; i++) {
      const len = lengths[i] as number;
      if (len > text.length) break;
      const hits = this.map.get(fromEnd ? text.slice(text.length - len) : text.slice(0, len));
      if (hits !== undefined) into.push(hits);
    }
  }
}

function push<K, T>(map: Map<K, T[]>, key: K, t: T): void {
  const list = map.get(key);
  if (list) list.push(t);
  else map.set(key, [t]);
}

/**
 * All alternatives of all fields leaving one automaton state on one path, compiled into lookup
 * tables: exact values through Maps, prefixes/suffixes through per-length Maps, numeric ranges
 * through an interval tree, wildcards bucketed by their literal head or tail. Only anything-but
 * conditions and head-and-tail-less wildcards are tested one by one.
 * Built lazily: adding or removing entries marks it stale and the next lookup rebuilds it.
 */
export class ValueIndex<T extends IndexTarget> {
  private entries: Entry<T>[] = [];
  private stale = true;
  private stamp = 0;

  private strings = new Map<string, T[]>();
  private numbers = new Map<number, T[]>();
  private literals = new Map<boolean | null, T[]>();
  private ipExact = new Map<string, T[]>();
  private ipRanges: Entry<T>[] = [];
  private foldedExact = new Map<string, T[]>();
  private prefixes = new AffixTable<T>();
  private suffixes = new AffixTable<T>();
  private foldedPrefixes = new AffixTable<T>();
  private foldedSuffixes = new AffixTable<T>();
  private wildcardHeads = new AffixTable<Entry<T>>();
  private wildcardTails = new AffixTable<Entry<T>>();
  private scanned: Entry<T>[] = [];
  private any: T[] = [];
  private intervals: IntervalIndex<T> = new IntervalIndex<T>([]);
  private hasIntervals = false;
  private needsIp = false;
  private needsFold = false;

  get size(): number {
    return this.entries.length;
  }

  add(matcher: ValueMatcher, target: T): void {
    if (matcher.kind === 'absent') return;
    this.entries.push({ matcher, target });
    this.stale = true;
  }

  removeTarget(target: T): void {
    this.entries = this.entries.filter((e) => e.target !== target);
    this.stale = true;
  }

  private rebuild(): void {
    this.strings = new Map();
    this.numbers = new Map();
    this.literals = new Map();
    this.ipExact = new Map();
    this.ipRanges = [];
    this.foldedExact = new Map();
    this.prefixes = new AffixTable();
    this.suffixes = new AffixTable();
    this.foldedPrefixes = new AffixTable();
    this.foldedSuffixes = new AffixTable();
    this.wildcardHeads = new AffixTable();
    this.wildcardTails = new AffixTable();
    this.scanned = [];
    this.any = [];
    const ranges: NumericInterval<T>[] = [];
    for (const e of this.entries) {
      const m = e.matcher;
      const t = e.target;
      switch (m.kind) {
        case 'exact-string':
          push(this.strings, m.value, t);
          break;
        case 'exact-number':
          push(this.numbers, m.value, t);
          break;
        case 'literal':
          push(this.literals, m.value, t);
          break;
        case 'ip-range':
          if (m.lo === m.hi) push(this.ipExact, m.lo, t);
          else this.ipRanges.push(e);
          break;
        case 'equals-ignore-case':
          push(this.foldedExact, m.value, t);
          break;
        case 'prefix':
          (m.ignoreCase ? this.foldedPrefixes : this.prefixes).add(m.value, t);
          break;
        case 'suffix':
          (m.ignoreCase ? this.foldedSuffixes : this.suffixes).add(m.value, t);
          break;
        case 'wildcard':
          if (m.literalPrefix !== '') this.wildcardHeads.add(m.literalPrefix, e);
          else if (m.literalSuffix !== '') this.wildcardTails.add(m.literalSuffix, e);
          else this.scanned.push(e);
          break;
        case 'numeric':
          ranges.push({ lo: m.lo, loOpen: m.loOpen, hi: m.hi, hiOpen: m.hiOpen, target: t });
          break;
        case 'exists':
          this.any.push(t);
          break;
        case 'absent':
          break;
        case 'anything-but':
        case 'anything-but-prefix':
        case 'anything-but-suffix':
        case 'anything-but-ignore-case':
        case 'anything-but-wildcard':
          this.scanned.push(e);
          break;
      }
    }
    for (const table of [this.prefixes, this.suffixes, this.foldedPrefixes, this.foldedSuffixes, this.wildcardHeads, this.wildcardTails]) table.seal();
    this.intervals = new IntervalIndex(ranges);
    this.hasIntervals = ranges.length > 0;
    this.needsIp = this.ipExact.size > 0 || this.ipRanges.length > 0;
    this.needsFold = this.foldedExact.size > 0 || this.foldedPrefixes.map.size > 0 || this.foldedSuffixes.map.size > 0;
    this.stale = false;
  }

  private hitAll(list: T[] | undefined, out: T[]): void {
    if (list === undefined) return;
    const stamp = this.stamp;
    for (let i = 0; i < list.length; i++) {
      const t = list[i] as T;
      if (t.mark !== stamp) {
        t.mark = stamp;
        out[this.top++] = t;
      }
    }
  }

  private verifyAll(list: Entry<T>[], value: LeafValue, out: T[]): void {
    const stamp = this.stamp;
    for (let i = 0; i < list.length; i++) {
      const e = list[i] as Entry<T>;
      if (e.target.mark !== stamp && valueMatches(e.matcher, value)) {
        e.target.mark = stamp;
        out[this.top++] = e.target;
      }
    }
  }

  private readonly affixHits: T[][] = [];
  private readonly wildcardHits: Entry<T>[][] = [];

  private hitAffixes(table: AffixTable<T>, text: string, fromEnd: boolean, out: T[]): void {
    if (table.lengths.length === 0) return;
    const lists = this.affixHits;
    lists.length = 0;
    table.collect(text, fromEnd, lists);
    for (let i = 0; i < lists.length; i++) this.hitAll(lists[i], out);
  }

  private verifyAffixes(table: AffixTable<Entry<T>>, text: string, fromEnd: boolean, out: T[]): void {
    if (table.lengths.length === 0) return;
    const lists = this.wildcardHits;
    lists.length = 0;
    table.collect(text, fromEnd, lists);
    for (let i = 0; i < lists.length; i++) this.verifyAll(lists[i] as Entry<T>[], text, out);
  }

  /** Write position in the caller's output array during one lookup. */
  private top = 0;

  /**
   * Writes into out[top], out[top+1], ... every target with an alternative that the value
   * satisfies, each once, and returns the new top. Writing by index (not push) lets the matcher
   * use one shared stack for all depths without resizing it on every lookup.
   */
  lookup(value: LeafValue, out: T[], top: number): number {
    if (this.stale) this.rebuild();
    this.top = top;
    const stamp = ++this.stamp;
    if (typeof value === 'string') {
      this.hitAll(this.strings.get(value), out);
      this.hitAffixes(this.prefixes, value, false, out);
      this.hitAffixes(this.suffixes, value, true, out);
      if (this.needsFold) {
        const folded = foldCase(value);
        this.hitAll(this.foldedExact.get(folded), out);
        this.hitAffixes(this.foldedPrefixes, folded, false, out);
        this.hitAffixes(this.foldedSuffixes, folded, true, out);
      }
      if (this.needsIp) {
        const ip = ipToHex(value);
        if (ip !== null) {
          this.hitAll(this.ipExact.get(ip), out);
          for (const e of this.ipRanges) {
            const m = e.matcher as { lo: string; hi: string };
            if (e.target.mark !== stamp && ip.length === m.lo.length && ip >= m.lo && ip <= m.hi) {
              e.target.mark = stamp;
              out[this.top++] = e.target;
            }
          }
        }
      }
      this.verifyAffixes(this.wildcardHeads, value, false, out);
      this.verifyAffixes(this.wildcardTails, value, true, out);
    } else if (typeof value === 'number') {
      this.hitAll(this.numbers.get(value), out);
      if (this.hasIntervals) this.top = this.intervals.query(value, out, stamp, this.top);
    } else {
      this.hitAll(this.literals.get(value), out);
    }
    if (this.scanned.length > 0) this.verifyAll(this.scanned, value, out);
    this.hitAll(this.any, out);
    return this.top;
  }
}
