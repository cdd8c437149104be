import { AffixTable } from './affix-table.js';
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

type WildcardForm = 'exact' | 'prefix' | 'suffix' | 'other';

/**
 * Most wildcards have no star ("abc"), one at the end ("abc*") or one at the start ("*abc"):
 * those are an exact value, a prefix and a suffix, looked up in tables without running the regex.
 */
function wildcardForm(source: string): WildcardForm {
  let stars = 0;
  let first = -1;
  let last = -1;
  for (let i = 0; i < source.length; i++) {
    const ch = source[i];
    if (ch === '\\') i++;
    else if (ch === '*') {
      stars++;
      if (first === -1) first = i;
      last = i;
    }
  }
  if (stars === 0) return 'exact';
  if (stars > 1) return 'other';
  if (last === source.length - 1) return 'prefix';
  return first === 0 ? 'suffix' : 'other';
}

// What a lookup must consult, chosen at rebuild from the tables in use: most indexes hold one kind
// of condition only, and a lookup through them skips every table they do not have.
const MODE_EXACT = 0;
const MODE_NUMERIC = 1;
const MODE_EXCLUSION = 2;
/** Plain anything-but only, with the answer for each excluded value computed at rebuild. */
const MODE_COMPLEMENT = 6;
/**
 * Largest (excluded values x anything-but alternatives) for which MODE_COMPLEMENT stores one
 * target list per excluded value; past it the lists would cost more memory than they save time.
 */
const COMPLEMENT_BUDGET = 4096;
const MODE_PREFIX = 3;
const MODE_GENERAL = 4;

/** Appends t under key; a target's alternatives are added together, so a repeat is always the last item. */
function push<K, T>(map: Map<K, T[]>, key: K, t: T): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [t]);
  else if (list[list.length - 1] !== t) list.push(t);
}

/**
 * All alternatives of all fields leaving one automaton state on one path, compiled into lookup
 * tables: exact values through Maps, prefixes/suffixes through character tries, numeric ranges
 * through an interval index, wildcards as exact/prefix/suffix when their stars allow it and
 * otherwise bucketed by their literal head or tail, anything-but (plain, prefix, suffix,
 * equals-ignore-case) as "all except those whose exclusions hold the value". Only anything-but
 * wildcards and wildcards without a literal head or tail are tested one by one.
 * Built lazily: adding or removing entries marks it stale and the next lookup rebuilds it.
 */
export class ValueIndex<T extends IndexTarget> {
  // Fields in order of use: V8 lays an object out in declaration order, so what every lookup
  // reads (staleness, mode, the common tables) shares the object's first cache line.
  private stale = true;
  private mode = MODE_EXACT;
  private stamp = 0;
  /** Write position in the caller's output array during one lookup. */
  private top = 0;
  // Tables a path does not use point at shared empty ones: an index costs memory (and cache lines
  // on the hot path) only for the kinds of condition it really holds.
  private strings: ReadonlyMap<string, T[]> = EMPTY_MAP;
  private prefixes: AffixTable<T> = EMPTY_AFFIX;
  private intervals: IntervalIndex<T> = EMPTY_INTERVALS;
  private numbers: ReadonlyMap<number, T[]> = EMPTY_MAP;
  // anything-but: every such alternative, and per excluded value (or prefix, suffix, folded value) those excluding it.
  /**
   * One pair per anything-but alternative, in one flat array: [target, stamp, target, stamp, ...].
   * A lookup writes its stamp into the pairs whose alternative excludes the value, then reports
   * the targets of all other pairs. The tables below map an excluded value (or prefix, suffix,
   * folded value) to the positions of the pairs excluding it.
   */
  private exclusions: readonly (T | number)[] = EMPTY_LIST;
  // MODE_COMPLEMENT: per excluded value, the targets of every alternative not excluding it; for any
  // other value (and any other type), all of them. "All except" is computed once, not per event.
  private allowedByString: ReadonlyMap<string, T[]> = EMPTY_MAP;
  private allowedByNumber: ReadonlyMap<number, T[]> = EMPTY_MAP;
  private allowedOtherwise: readonly T[] = EMPTY_LIST;
  /** The allowed* lists above are computed (see complemented()); any mode may use them. */
  private complement = false;
  private excludedByString: ReadonlyMap<string, number[]> = EMPTY_MAP;
  private excludedPrefixes: AffixTable<number> = EMPTY_AFFIX;
  private excludedSuffixes: AffixTable<number> = EMPTY_AFFIX;
  private excludedFolded: ReadonlyMap<string, number[]> = EMPTY_MAP;
  private excludedByNumber: ReadonlyMap<number, number[]> = EMPTY_MAP;
  private literals: ReadonlyMap<boolean | null, T[]> = EMPTY_MAP;
  private ipExact: ReadonlyMap<string, T[]> = EMPTY_MAP;
  private ipRanges: readonly Entry<T>[] = EMPTY_LIST;
  private foldedExact: ReadonlyMap<string, T[]> = EMPTY_MAP;
  private suffixes: AffixTable<T> = EMPTY_AFFIX;
  private foldedPrefixes: AffixTable<T> = EMPTY_AFFIX;
  private foldedSuffixes: AffixTable<T> = EMPTY_AFFIX;
  private wildcardHeads: AffixTable<Entry<T>> = EMPTY_AFFIX;
  private wildcardTails: AffixTable<Entry<T>> = EMPTY_AFFIX;
  private scanned: readonly Entry<T>[] = EMPTY_LIST;
  private any: readonly T[] = EMPTY_LIST;
  private needsIp = false;
  private needsFold = false;
  // Kept per target so removing a rule's condition is O(1); flattened into `entries` on rebuild.
  private readonly byTarget = new Map<T, Entry<T>[]>();
  private entries: Entry<T>[] = [];

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
    const excludedByString = new Lazy(() => new Map<string, number[]>());
    const excludedByNumber = new Lazy(() => new Map<number, number[]>());
    const excludedFolded = new Lazy(() => new Map<string, number[]>());
    const excludedPrefixes = new Lazy(() => new AffixTable<number>(false));
    const excludedSuffixes = new Lazy(() => new AffixTable<number>(true));
    const prefixes = new Lazy(() => new AffixTable<T>(false));
    const suffixes = new Lazy(() => new AffixTable<T>(true));
    const foldedPrefixes = new Lazy(() => new AffixTable<T>(false));
    const foldedSuffixes = new Lazy(() => new AffixTable<T>(true));
    const wildcardHeads = new Lazy(() => new AffixTable<Entry<T>>(false));
    const wildcardTails = new Lazy(() => new AffixTable<Entry<T>>(true));
    const ipRanges: Entry<T>[] = [];
    const exclusions: (T | number)[] = [];
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
          switch (wildcardForm(m.source)) {
            case 'exact':
              push(strings.get(), m.literalPrefix, t);
              break;
            case 'prefix':
              prefixes.get().add(m.literalPrefix, t);
              break;
            case 'suffix':
              suffixes.get().add(m.literalSuffix, t);
              break;
            case 'other':
              if (m.literalPrefix !== '') wildcardHeads.get().add(m.literalPrefix, e);
              else if (m.literalSuffix !== '') wildcardTails.get().add(m.literalSuffix, e);
              else scanned.push(e);
              break;
          }
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
          const entry = exclusions.length;
          exclusions.push(t, 0);
          for (const v of m.strings) push(excludedByString.get(), v, entry);
          for (const v of m.numbers) push(excludedByNumber.get(), v, entry);
          break;
        }
        case 'anything-but-prefix': {
          const entry = exclusions.length;
          exclusions.push(t, 0);
          for (const v of m.values) excludedPrefixes.get().add(v, entry);
          break;
        }
        case 'anything-but-suffix': {
          const entry = exclusions.length;
          exclusions.push(t, 0);
          for (const v of m.values) excludedSuffixes.get().add(v, entry);
          break;
        }
        case 'anything-but-ignore-case': {
          const entry = exclusions.length;
          exclusions.push(t, 0);
          for (const v of m.values) push(excludedFolded.get(), v, entry);
          break;
        }
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
    this.excludedFolded = excludedFolded.value ?? EMPTY_MAP;
    this.excludedPrefixes = excludedPrefixes.value?.sealed() ?? EMPTY_AFFIX;
    this.excludedSuffixes = excludedSuffixes.value?.sealed() ?? EMPTY_AFFIX;
    this.prefixes = prefixes.value?.sealed() ?? EMPTY_AFFIX;
    this.suffixes = suffixes.value?.sealed() ?? EMPTY_AFFIX;
    this.foldedPrefixes = foldedPrefixes.value?.sealed() ?? EMPTY_AFFIX;
    this.foldedSuffixes = foldedSuffixes.value?.sealed() ?? EMPTY_AFFIX;
    this.wildcardHeads = wildcardHeads.value?.sealed() ?? EMPTY_AFFIX;
    this.wildcardTails = wildcardTails.value?.sealed() ?? EMPTY_AFFIX;
    this.ipRanges = ipRanges.length > 0 ? ipRanges : EMPTY_LIST;
    this.exclusions = exclusions.length > 0 ? exclusions : EMPTY_LIST;
    this.scanned = scanned.length > 0 ? scanned : EMPTY_LIST;
    this.any = any.length > 0 ? any : EMPTY_LIST;
    this.intervals = ranges.length > 0 ? new IntervalIndex(ranges) : EMPTY_INTERVALS;
    this.needsIp = this.ipExact.size > 0 || this.ipRanges.length > 0;
    this.needsFold = foldedExact.value !== undefined || foldedPrefixes.value !== undefined || foldedSuffixes.value !== undefined;
    // Which tables are in use decides the lookup's path (see the MODE_ constants).
    const others =
      literals.value !== undefined || this.needsIp || this.needsFold || suffixes.value !== undefined ||
      wildcardHeads.value !== undefined || wildcardTails.value !== undefined || scanned.length > 0 || any.length > 0;
    const hasStrings = strings.value !== undefined;
    const hasNumeric = numbers.value !== undefined || ranges.length > 0;
    const hasExclusions = exclusions.length > 0;
    const hasPrefixes = prefixes.value !== undefined;
    this.complement = hasExclusions && this.complemented();
    const kinds = Number(hasStrings) + Number(hasNumeric) + Number(hasExclusions) + Number(hasPrefixes) + Number(others);
    if (kinds === 0 || (kinds === 1 && hasStrings)) this.mode = MODE_EXACT;
    else if (kinds === 1 && hasNumeric) this.mode = MODE_NUMERIC;
    else if (kinds === 1 && hasExclusions) this.mode = this.complement ? MODE_COMPLEMENT : MODE_EXCLUSION;
    else if (kinds === 1 && hasPrefixes) this.mode = MODE_PREFIX;
    else this.mode = MODE_GENERAL;
    this.stale = false;
  }

  /** Computes the MODE_COMPLEMENT lists when only plain anything-but is held, within budget; says whether it did. */
  private complemented(): boolean {
    this.allowedByString = EMPTY_MAP;
    this.allowedByNumber = EMPTY_MAP;
    this.allowedOtherwise = EMPTY_LIST;
    const pairs = this.exclusions;
    const plainOnly = this.excludedPrefixes === EMPTY_AFFIX && this.excludedSuffixes === EMPTY_AFFIX && this.excludedFolded.size === 0;
    const values = this.excludedByString.size + this.excludedByNumber.size;
    if (!plainOnly || (values + 1) * (pairs.length / 2) > COMPLEMENT_BUDGET) return false;
    const allowed = (excludedPairs: readonly number[]): T[] => {
      const excluded = new Set(excludedPairs);
      const seen = new Set<T>();
      for (let p = 0; p < pairs.length; p += 2) if (!excluded.has(p)) seen.add(pairs[p] as T);
      return [...seen];
    };
    this.allowedByString = new Map([...this.excludedByString].map(([v, list]) => [v, allowed(list)]));
    this.allowedByNumber = new Map([...this.excludedByNumber].map(([v, list]) => [v, allowed(list)]));
    this.allowedOtherwise = allowed([]);
    return true;
  }

  /** With `complement`: the anything-but targets whose exclusions do not hold the value. */
  private allowedFor(value: LeafValue): readonly T[] {
    return (
      (typeof value === 'string' ? this.allowedByString.get(value) : typeof value === 'number' ? this.allowedByNumber.get(value) : undefined) ??
      this.allowedOtherwise
    );
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

  private exclude(list: readonly number[] | undefined): void {
    if (list === undefined) return;
    const stamp = this.stamp;
    const pairs = this.exclusions as (T | number)[];
    for (let i = 0; i < list.length; i++) pairs[(list[i] as number) + 1] = stamp;
  }

  private excludeAffixes(table: AffixTable<number>, text: string): void {
    const lists = AFFIX_SCRATCH as number[][];
    const count = table.collect(text, lists);
    for (let i = 0; i < count; i++) this.exclude(lists[i]);
  }

  /** Every anything-but target except those whose exclusions hold this very value. */
  private hitExclusions(value: LeafValue, out: T[]): void {
    const stamp = this.stamp;
    if (typeof value === 'string') {
      this.exclude(this.excludedByString.get(value));
      if (this.excludedPrefixes !== EMPTY_AFFIX) this.excludeAffixes(this.excludedPrefixes, value);
      if (this.excludedSuffixes !== EMPTY_AFFIX) this.excludeAffixes(this.excludedSuffixes, value);
      if (this.excludedFolded.size > 0) this.exclude(this.excludedFolded.get(foldCase(value)));
    } else if (typeof value === 'number') {
      this.exclude(this.excludedByNumber.get(value));
    }
    const pairs = this.exclusions;
    for (let i = 0; i < pairs.length; i += 2) {
      if (pairs[i + 1] === stamp) continue;
      const t = pairs[i] as T;
      if (t.mark !== stamp) {
        t.mark = stamp;
        out[this.top++] = t;
      }
    }
  }

  /**
   * Writes into out[top], out[top+1], ... every target with an alternative that the value
   * satisfies, each once, and returns the new top. Writing by index (not push) lets the matcher
   * use one shared stack for all depths without resizing it on every lookup.
   */
  lookup(value: LeafValue, out: T[], top: number): number {
    if (this.stale) this.rebuild();
    switch (this.mode) {
      case MODE_EXACT: {
        // Distinct targets per key already, so no dedupe stamp is needed.
        const list = typeof value === 'string' ? this.strings.get(value) : undefined;
        if (list === undefined) return top;
        let at = top;
        for (let i = 0; i < list.length; i++) out[at++] = list[i] as T;
        return at;
      }
      case MODE_NUMERIC: {
        if (typeof value !== 'number') return top;
        this.top = top;
        const stamp = ++this.stamp;
        this.hitAll(this.numbers.get(value), out);
        return this.intervals !== EMPTY_INTERVALS ? this.intervals.query(value, out, stamp, this.top) : this.top;
      }
      case MODE_COMPLEMENT: {
        // Each list holds distinct targets, so no dedupe stamp is needed.
        const list = this.allowedFor(value);
        let at = top;
        for (let i = 0; i < list.length; i++) out[at++] = list[i] as T;
        return at;
      }
      case MODE_EXCLUSION:
        this.top = top;
        this.stamp++;
        this.hitExclusions(value, out);
        return this.top;
      case MODE_PREFIX:
        if (typeof value !== 'string') return top;
        this.top = top;
        this.stamp++;
        this.hitAffixes(this.prefixes, value, out);
        return this.top;
      default:
        return this.lookupGeneral(value, out, top);
    }
  }

  private lookupGeneral(value: LeafValue, out: T[], top: number): number {
    this.top = top;
    const stamp = ++this.stamp;
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
      if (this.intervals !== EMPTY_INTERVALS) this.top = this.intervals.query(value, out, stamp, this.top);
    } else {
      this.hitAll(this.literals.get(value), out);
    }
    if (this.complement) this.hitAll(this.allowedFor(value), out);
    else if (this.exclusions.length > 0) this.hitExclusions(value, out);
    if (this.scanned.length > 0) this.verifyAll(this.scanned, value, out);
    this.hitAll(this.any, out);
    return this.top;
  }
}
