import { IntervalIndex, type NumericInterval } from './interval-index.js';
import { ipToHex } from './ip-address.js';
import { foldCase } from './text-match.js';
import type { LeafValue, ValueMatcher } from './types.js';
import { valueMatches } from './value-match.js';

/** Something a value can lead to; `mark` lets a lookup report each target once without a Set. */
export interface IndexTarget {
  mark: number;
}

/** One plain anything-but alternative; `excluded` is set to the lookup's stamp when its list holds the value. */
interface ExclusionEntry<T> {
  readonly target: T;
  excluded: number;
}

interface Entry<T> {
  readonly matcher: ValueMatcher;
  readonly target: T;
}

interface TrieNode<V> {
  values: V[] | undefined;
  readonly next: Map<number, TrieNode<V>>;
}

/**
 * Prefixes (or suffixes, read backwards) in a character trie below their common head, so a lookup
 * is one startsWith/endsWith plus a few small-integer Map steps, with no string slicing or hashing.
 */
class AffixTable<V> {
  readonly map = new Map<string, V[]>();
  private common = '';
  private root: TrieNode<V> | null = null;

  constructor(private readonly fromEnd: boolean) {}

  add(key: string, v: V): void {
    const list = this.map.get(key);
    if (list) list.push(v);
    else this.map.set(key, [v]);
  }

  seal(): void {
    const keys = [...this.map.keys()];
    if (keys.length === 0) {
      this.root = null;
      return;
    }
    let common = keys[0] ?? '';
    for (const k of keys) {
      let n = 0;
      const max = Math.min(common.length, k.length);
      if (this.fromEnd) {
        while (n < max && common[common.length - 1 - n] === k[k.length - 1 - n]) n++;
        common = common.slice(common.length - n);
      } else {
        while (n < max && common[n] === k[n]) n++;
        common = common.slice(0, n);
      }
    }
    this.common = common;
    const root: TrieNode<V> = { values: undefined, next: new Map() };
    for (const [key, values] of this.map) {
      let node = root;
      for (let i = common.length; i < key.length; i++) {
        const code = this.fromEnd ? key.charCodeAt(key.length - 1 - i) : key.charCodeAt(i);
        let child = node.next.get(code);
        if (child === undefined) {
          child = { values: undefined, next: new Map() };
          node.next.set(code, child);
        }
        node = child;
      }
      node.values = values;
    }
    this.root = root;
  }

  /** Writes the lists stored under every prefix (or suffix) of text into `into` from 0; returns how many. */
  collect(text: string, into: V[][]): number {
    const root = this.root;
    if (root === null) return 0;
    if (this.fromEnd ? !text.endsWith(this.common) : !text.startsWith(this.common)) return 0;
    let count = 0;
    if (root.values !== undefined) into[count++] = root.values;
    const last = text.length - 1;
    let node: TrieNode<V> | undefined = root;
    for (let i = this.common.length; i <= last; i++) {
      node = node.next.get(this.fromEnd ? text.charCodeAt(last - i) : text.charCodeAt(i));
      if (node === undefined) break;
      if (node.values !== undefined) into[count++] = node.values;
    }
    return count;
  }
}

/** Appends t under key; a target's alternatives are added together, so a repeat is always the last item. */
function push<K, T>(map: Map<K, T[]>, key: K, t: T): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [t]);
  else if (list[list.length - 1] !== t) list.push(t);
}

/**
 * All alternatives of all fields leaving one automaton state on one path, compiled into lookup
 * tables: exact values through Maps, prefixes/suffixes through per-length Maps, numeric ranges
 * through an interval tree, wildcards bucketed by their literal head or tail, plain anything-but
 * lists through per-value exclusion lists. Only anything-but with prefix/suffix/case/wildcard and
 * wildcards without a literal head or tail are tested one by one.
 * Built lazily: adding or removing entries marks it stale and the next lookup rebuilds it.
 */
export class ValueIndex<T extends IndexTarget> {
  // Kept per target so removing a rule's condition is O(1); flattened into `entries` on rebuild.
  private readonly byTarget = new Map<T, Entry<T>[]>();
  private entries: Entry<T>[] = [];
  private stale = true;
  private stamp = 0;

  private strings = new Map<string, T[]>();
  private numbers = new Map<number, T[]>();
  private literals = new Map<boolean | null, T[]>();
  private ipExact = new Map<string, T[]>();
  private ipRanges: Entry<T>[] = [];
  private foldedExact = new Map<string, T[]>();
  private prefixes = new AffixTable<T>(false);
  private suffixes = new AffixTable<T>(true);
  private foldedPrefixes = new AffixTable<T>(false);
  private foldedSuffixes = new AffixTable<T>(true);
  private wildcardHeads = new AffixTable<Entry<T>>(false);
  private wildcardTails = new AffixTable<Entry<T>>(true);
  // anything-but over plain values: every such target, and per excluded value the targets excluding it.
  private anythingBut: ExclusionEntry<T>[] = [];
  private excludedByString = new Map<string, ExclusionEntry<T>[]>();
  private excludedByNumber = new Map<number, ExclusionEntry<T>[]>();
  private scanned: Entry<T>[] = [];
  private any: T[] = [];
  private intervals: IntervalIndex<T> = new IntervalIndex<T>([]);
  private hasIntervals = false;
  private exactStringsOnly = false;
  private numericOnly = false;
  private needsIp = false;
  private needsFold = false;

  /** Number of targets indexed. */
  get size(): number {
    return this.byTarget.size;
  }

  add(matcher: ValueMatcher, target: T): void {
    if (matcher.kind === 'absent') return;
    const list = this.byTarget.get(target);
    if (list === undefined) this.byTarget.set(target, [{ matcher, target }]);
    else list.push({ matcher, target });
    this.stale = true;
  }

  removeTarget(target: T): void {
    if (this.byTarget.delete(target)) this.stale = true;
  }

  private rebuild(): void {
    this.entries = [...this.byTarget.values()].flat();
    this.strings = new Map();
    this.numbers = new Map();
    this.literals = new Map();
    this.ipExact = new Map();
    this.ipRanges = [];
    this.foldedExact = new Map();
    this.prefixes = new AffixTable(false);
    this.suffixes = new AffixTable(true);
    this.foldedPrefixes = new AffixTable(false);
    this.foldedSuffixes = new AffixTable(true);
    this.wildcardHeads = new AffixTable(false);
    this.wildcardTails = new AffixTable(true);
    this.anythingBut = [];
    this.excludedByString = new Map();
    this.excludedByNumber = new Map();
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
        case 'anything-but': {
          const entry: ExclusionEntry<T> = { target: t, excluded: 0 };
          this.anythingBut.push(entry);
          for (const v of m.strings) push(this.excludedByString, v, entry);
          for (const v of m.numbers) push(this.excludedByNumber, v, entry);
          break;
        }
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
    // The most common tables by far: exact strings only (event types, states, names), and
    // numeric conditions only (thresholds); both get a short path through lookup().
    this.exactStringsOnly = this.entries.every((e) => e.matcher.kind === 'exact-string');
    this.numericOnly = this.entries.every((e) => e.matcher.kind === 'numeric' || e.matcher.kind === 'exact-number');
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

  private hitAffixes(table: AffixTable<T>, text: string, out: T[]): void {
    const lists = this.affixHits;
    const count = table.collect(text, lists);
    for (let i = 0; i < count; i++) this.hitAll(lists[i], out);
  }

  private verifyAffixes(table: AffixTable<Entry<T>>, text: string, out: T[]): void {
    const lists = this.wildcardHits;
    const count = table.collect(text, lists);
    for (let i = 0; i < count; i++) this.verifyAll(lists[i] as Entry<T>[], text, out);
  }

  /** Every plain anything-but target except those whose list holds this very value. */
  private hitAnythingBut(value: LeafValue, out: T[]): void {
    const stamp = this.stamp;
    const excluded =
      typeof value === 'string' ? this.excludedByString.get(value) : typeof value === 'number' ? this.excludedByNumber.get(value) : undefined;
    if (excluded !== undefined) for (let i = 0; i < excluded.length; i++) (excluded[i] as ExclusionEntry<T>).excluded = stamp;
    const all = this.anythingBut;
    for (let i = 0; i < all.length; i++) {
      const entry = all[i] as ExclusionEntry<T>;
      const t = entry.target;
      if (entry.excluded !== stamp && t.mark !== stamp) {
        t.mark = stamp;
        out[this.top++] = t;
      }
    }
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
    if (this.exactStringsOnly) {
      // Distinct targets per key already, so no dedupe stamp is needed.
      const list = typeof value === 'string' ? this.strings.get(value) : undefined;
      if (list === undefined) return top;
      let at = top;
      for (let i = 0; i < list.length; i++) out[at++] = list[i] as T;
      return at;
    }
    this.top = top;
    const stamp = ++this.stamp;
    if (this.numericOnly) {
      if (typeof value !== 'number') return top;
      this.hitAll(this.numbers.get(value), out);
      return this.hasIntervals ? this.intervals.query(value, out, stamp, this.top) : this.top;
    }
    if (typeof value === 'string') {
      this.hitAll(this.strings.get(value), out);
      this.hitAffixes(this.prefixes, value, out);
      this.hitAffixes(this.suffixes, value, out);
      if (this.needsFold) {
        const folded = foldCase(value);
        this.hitAll(this.foldedExact.get(folded), out);
        this.hitAffixes(this.foldedPrefixes, folded, out);
        this.hitAffixes(this.foldedSuffixes, folded, out);
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
      this.verifyAffixes(this.wildcardHeads, value, out);
      this.verifyAffixes(this.wildcardTails, value, out);
    } else if (typeof value === 'number') {
      this.hitAll(this.numbers.get(value), out);
      if (this.hasIntervals) this.top = this.intervals.query(value, out, stamp, this.top);
    } else {
      this.hitAll(this.literals.get(value), out);
    }
    if (this.anythingBut.length > 0) this.hitAnythingBut(value, out);
    if (this.scanned.length > 0) this.verifyAll(this.scanned, value, out);
    this.hitAll(this.any, out);
    return this.top;
  }
}
