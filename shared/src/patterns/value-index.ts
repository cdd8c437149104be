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

  /** Builds the trie; returns this. */
  sealed(): this {
    this.seal();
    return this;
  }

  private seal(): void {
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

/** A value made on first use. */
class Lazy<V> {
  value: V | undefined = undefined;
  constructor(private readonly make: () => V) {}
  get(): V {
    return (this.value ??= this.make());
  }
}

// Shared, never written: tables a path does not use.
const EMPTY_MAP: ReadonlyMap<never, never> = new Map<never, never>();
const EMPTY_LIST: readonly never[] = [];
const EMPTY_AFFIX = new AffixTable<never>(false).sealed();
const EMPTY_INTERVALS = new IntervalIndex<never>([]);
// Scratch for affix lookups, shared by all indexes: a lookup never runs inside another.
const AFFIX_SCRATCH: unknown[][] = [];

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

  // Tables a path does not use point at shared empty ones: an index costs memory (and cache lines
  // on the hot path) only for the kinds of condition it really holds.
  private strings: ReadonlyMap<string, T[]> = EMPTY_MAP;
  private numbers: ReadonlyMap<number, T[]> = EMPTY_MAP;
  private literals: ReadonlyMap<boolean | null, T[]> = EMPTY_MAP;
  private ipExact: ReadonlyMap<string, T[]> = EMPTY_MAP;
  private ipRanges: readonly Entry<T>[] = EMPTY_LIST;
  private foldedExact: ReadonlyMap<string, T[]> = EMPTY_MAP;
  private prefixes: AffixTable<T> = EMPTY_AFFIX;
  private suffixes: AffixTable<T> = EMPTY_AFFIX;
  private foldedPrefixes: AffixTable<T> = EMPTY_AFFIX;
  private foldedSuffixes: AffixTable<T> = EMPTY_AFFIX;
  private wildcardHeads: AffixTable<Entry<T>> = EMPTY_AFFIX;
  private wildcardTails: AffixTable<Entry<T>> = EMPTY_AFFIX;
  // anything-but over plain values: every such alternative, and per excluded value those excluding it.
  private anythingBut: readonly ExclusionEntry<T>[] = EMPTY_LIST;
  private excludedByString: ReadonlyMap<string, ExclusionEntry<T>[]> = EMPTY_MAP;
  private excludedByNumber: ReadonlyMap<number, ExclusionEntry<T>[]> = EMPTY_MAP;
  private scanned: readonly Entry<T>[] = EMPTY_LIST;
  private any: readonly T[] = EMPTY_LIST;
  private intervals: IntervalIndex<T> = EMPTY_INTERVALS;
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
    const strings = new Lazy(() => new Map<string, T[]>());
    const numbers = new Lazy(() => new Map<number, T[]>());
    const literals = new Lazy(() => new Map<boolean | null, T[]>());
    const ipExact = new Lazy(() => new Map<string, T[]>());
    const foldedExact = new Lazy(() => new Map<string, T[]>());
    const excludedByString = new Lazy(() => new Map<string, ExclusionEntry<T>[]>());
    const excludedByNumber = new Lazy(() => new Map<number, ExclusionEntry<T>[]>());
    const prefixes = new Lazy(() => new AffixTable<T>(false));
    const suffixes = new Lazy(() => new AffixTable<T>(true));
    const foldedPrefixes = new Lazy(() => new AffixTable<T>(false));
    const foldedSuffixes = new Lazy(() => new AffixTable<T>(true));
    const wildcardHeads = new Lazy(() => new AffixTable<Entry<T>>(false));
    const wildcardTails = new Lazy(() => new AffixTable<Entry<T>>(true));
    const ipRanges: Entry<T>[] = [];
    const anythingBut: ExclusionEntry<T>[] = [];
    const scanned: Entry<T>[] = [];
    const any: T[] = [];
    const ranges: NumericInterval<T>[] = [];
    for (const e of this.entries) {
      const m = e.matcher;
      const t = e.target;
      switch (m.kind) {
        case 'exact-string':
          push(strings.get(), m.value, t);
          break;
        case 'exact-number':
          push(numbers.get(), m.value, t);
          break;
        case 'literal':
          push(literals.get(), m.value, t);
          break;
        case 'ip-range':
          if (m.lo === m.hi) push(ipExact.get(), m.lo, t);
          else ipRanges.push(e);
          break;
        case 'equals-ignore-case':
          push(foldedExact.get(), m.value, t);
          break;
        case 'prefix':
          (m.ignoreCase ? foldedPrefixes : prefixes).get().add(m.value, t);
          break;
        case 'suffix':
          (m.ignoreCase ? foldedSuffixes : suffixes).get().add(m.value, t);
          break;
        case 'wildcard':
          if (m.literalPrefix !== '') wildcardHeads.get().add(m.literalPrefix, e);
          else if (m.literalSuffix !== '') wildcardTails.get().add(m.literalSuffix, e);
          else scanned.push(e);
          break;
        case 'numeric':
          ranges.push({ lo: m.lo, loOpen: m.loOpen, hi: m.hi, hiOpen: m.hiOpen, target: t });
          break;
        case 'exists':
          any.push(t);
          break;
        case 'absent':
          break;
        case 'anything-but': {
          const entry: ExclusionEntry<T> = { target: t, excluded: 0 };
          anythingBut.push(entry);
          for (const v of m.strings) push(excludedByString.get(), v, entry);
          for (const v of m.numbers) push(excludedByNumber.get(), v, entry);
          break;
        }
        case 'anything-but-prefix':
        case 'anything-but-suffix':
        case 'anything-but-ignore-case':
        case 'anything-but-wildcard':
          scanned.push(e);
          break;
      }
    }
    this.strings = strings.value ?? EMPTY_MAP;
    this.numbers = numbers.value ?? EMPTY_MAP;
    this.literals = literals.value ?? EMPTY_MAP;
    this.ipExact = ipExact.value ?? EMPTY_MAP;
    this.foldedExact = foldedExact.value ?? EMPTY_MAP;
    this.excludedByString = excludedByString.value ?? EMPTY_MAP;
    this.excludedByNumber = excludedByNumber.value ?? EMPTY_MAP;
    this.prefixes = prefixes.value?.sealed() ?? EMPTY_AFFIX;
    this.suffixes = suffixes.value?.sealed() ?? EMPTY_AFFIX;
    this.foldedPrefixes = foldedPrefixes.value?.sealed() ?? EMPTY_AFFIX;
    this.foldedSuffixes = foldedSuffixes.value?.sealed() ?? EMPTY_AFFIX;
    this.wildcardHeads = wildcardHeads.value?.sealed() ?? EMPTY_AFFIX;
    this.wildcardTails = wildcardTails.value?.sealed() ?? EMPTY_AFFIX;
    this.ipRanges = ipRanges.length > 0 ? ipRanges : EMPTY_LIST;
    this.anythingBut = anythingBut.length > 0 ? anythingBut : EMPTY_LIST;
    this.scanned = scanned.length > 0 ? scanned : EMPTY_LIST;
    this.any = any.length > 0 ? any : EMPTY_LIST;
    this.intervals = ranges.length > 0 ? new IntervalIndex(ranges) : EMPTY_INTERVALS;
    this.hasIntervals = ranges.length > 0;
    this.needsIp = this.ipExact.size > 0 || this.ipRanges.length > 0;
    // The most common tables by far: exact strings only (event types, states, names), and
    // numeric conditions only (thresholds); both get a short path through lookup().
    this.exactStringsOnly = this.entries.every((e) => e.matcher.kind === 'exact-string');
    this.numericOnly = this.entries.every((e) => e.matcher.kind === 'numeric' || e.matcher.kind === 'exact-number');
    this.needsFold = foldedExact.value !== undefined || foldedPrefixes.value !== undefined || foldedSuffixes.value !== undefined;
    this.stale = false;
  }

  private hitAll(list: readonly T[] | undefined, out: T[]): void {
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

  private verifyAll(list: readonly Entry<T>[], value: LeafValue, out: T[]): void {
    const stamp = this.stamp;
    for (let i = 0; i < list.length; i++) {
      const e = list[i] as Entry<T>;
      if (e.target.mark !== stamp && valueMatches(e.matcher, value)) {
        e.target.mark = stamp;
        out[this.top++] = e.target;
      }
    }
  }


  private hitAffixes(table: AffixTable<T>, text: string, out: T[]): void {
    const lists = AFFIX_SCRATCH as T[][];
    const count = table.collect(text, lists);
    for (let i = 0; i < count; i++) this.hitAll(lists[i], out);
  }

  private verifyAffixes(table: AffixTable<Entry<T>>, text: string, out: T[]): void {
    const lists = AFFIX_SCRATCH as Entry<T>[][];
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
