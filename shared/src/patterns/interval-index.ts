/**
 * A static centred interval tree over numeric ranges, so a value is checked against thousands of
 * `numeric` conditions in O(log n + hits) instead of one comparison per rule.
 */

export interface NumericInterval<T> {
  readonly lo: number;
  readonly loOpen: boolean;
  readonly hi: number;
  readonly hiOpen: boolean;
  readonly target: T;
}

interface Node<T> {
  readonly center: number;
  readonly byLo: NumericInterval<T>[];
  readonly byHi: NumericInterval<T>[];
  readonly left: Node<T> | null;
  readonly right: Node<T> | null;
}

function contains<T>(r: NumericInterval<T>, x: number): boolean {
  return (r.loOpen ? x > r.lo : x >= r.lo) && (r.hiOpen ? x < r.hi : x <= r.hi);
}

function build<T>(ranges: NumericInterval<T>[]): Node<T> | null {
  if (ranges.length === 0) return null;
  const endpoints: number[] = [];
  for (const r of ranges) {
    if (Number.isFinite(r.lo)) endpoints.push(r.lo);
    if (Number.isFinite(r.hi)) endpoints.push(r.hi);
  }
  endpoints.sort((a, b) => a - b);
  // Every range has a finite bound, so the median endpoint lies in at least one range and each level shrinks.
  const center = endpoints[endpoints.length >> 1] ?? 0;
  const here: NumericInterval<T>[] = [];
  const left: NumericInterval<T>[] = [];
  const right: NumericInterval<T>[] = [];
  for (const r of ranges) {
    if (r.hi < center) left.push(r);
    else if (r.lo > center) right.push(r);
    else here.push(r);
  }
  return {
    center,
    byLo: [...here].sort((a, b) => a.lo - b.lo),
    byHi: [...here].sort((a, b) => b.hi - a.hi),
    left: build(left),
    right: build(right),
  };
}

/** Up to this many ranges, one scan of a sorted array beats walking tree nodes (fewer loads). */
const SCAN_LIMIT = 16;

export class IntervalIndex<T extends { mark: number }> {
  private readonly root: Node<T> | null;
  /** Sorted by lower bound when there are few ranges; null when the tree is used. */
  private readonly sorted: NumericInterval<T>[] | null;
  // The sorted ranges' bounds side by side (lo, hi, lo, hi, ...) in an array of unboxed doubles: a
  // scan reads it alone and loads a range object only for the ranges that hold the value.
  private readonly bounds: number[];

  constructor(ranges: NumericInterval<T>[]) {
    const sorted = ranges.length <= SCAN_LIMIT ? [...ranges].sort((a, b) => a.lo - b.lo) : null;
    this.sorted = sorted;
    // 0.5 first keeps the array's elements unboxed doubles even when every bound is an integer.
    const bounds: number[] = [0.5];
    for (const r of sorted ?? []) bounds.push(r.lo, r.hi);
    bounds.shift();
    this.bounds = bounds;
    this.root = sorted === null ? build(ranges) : null;
  }

  /** Writes from out[top] the target of every range holding x not yet marked with `stamp`; returns the new top. */
  query(x: number, out: T[], stamp: number, top: number): number {
    let at = top;
    const sorted = this.sorted;
    if (sorted !== null) {
      const bounds = this.bounds;
      for (let i = 0, b = 0; b < bounds.length; i++, b += 2) {
        if ((bounds[b] as number) > x) break;
        if ((bounds[b + 1] as number) < x) continue;
        const r = sorted[i] as NumericInterval<T>;
        if (r.target.mark !== stamp && contains(r, x)) {
          r.target.mark = stamp;
          out[at++] = r.target;
        }
      }
      return at;
    }
    let node = this.root;
    while (node !== null) {
      if (x < node.center) {
        for (const r of node.byLo) {
          if (r.lo > x) break;
          if (r.target.mark !== stamp && contains(r, x)) {
            r.target.mark = stamp;
            out[at++] = r.target;
          }
        }
        node = node.left;
      } else if (x > node.center) {
        for (const r of node.byHi) {
          if (r.hi < x) break;
          if (r.target.mark !== stamp && contains(r, x)) {
            r.target.mark = stamp;
            out[at++] = r.target;
          }
        }
        node = node.right;
      } else {
        for (const r of node.byLo) if (r.target.mark !== stamp && contains(r, x)) {
            r.target.mark = stamp;
            out[at++] = r.target;
          }
        return at;
      }
    }
    return at;
  }
}
