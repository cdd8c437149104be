/**
 * Lookup of every key that is a prefix (or suffix) of a text, for ValueIndex: prefix, suffix and
 * wildcard-head/tail conditions, and anything-but prefix/suffix exclusions.
 */

interface TrieNode<V> {
  values: V[] | undefined;
  readonly next: Map<number, TrieNode<V>>;
}

/*
 * String.prototype.startsWith/endsWith cost about 100 ns a call in Node 20 (measured), against
 * about 10 ns for comparing a 20-character key code by code, so the hot path compares by hand.
 * hasPrefix compares from the key's last character, hasSuffix from its first: keys sharing a
 * long head (or tail) differ there first. Code units, as startsWith/endsWith compare.
 */
function hasPrefix(text: string, key: string): boolean {
  if (key.length > text.length) return false;
  for (let i = key.length - 1; i >= 0; i--) if (text.charCodeAt(i) !== key.charCodeAt(i)) return false;
  return true;
}

function hasSuffix(text: string, key: string): boolean {
  const offset = text.length - key.length;
  if (offset < 0) return false;
  for (let i = 0; i < key.length; i++) if (text.charCodeAt(offset + i) !== key.charCodeAt(i)) return false;
  return true;
}

/** Up to this many keys, comparing each key beats walking a trie (one Map lookup per character). */
const AFFIX_SCAN_LIMIT = 8;

/**
 * Prefixes (or suffixes, read backwards): few keys are compared one by one, cheapest test first;
 * many go in a character trie below their common head, so a lookup is one head comparison
 * plus a few small-integer Map steps, with no string slicing or hashing.
 */
export class AffixTable<V> {
  readonly map = new Map<string, V[]>();
  private common = '';
  private root: TrieNode<V> | null = null;
  // The scanned form, one flat array: per key its length, the codes of the two characters that
  // decide it fastest (its far end, and the first one past the head (or tail) all keys share), the
  // key and its list. Rejecting a key reads small integers next to the previous key's, not the
  // key's string.
  private scan: (number | string | V[])[] = [];

  constructor(private readonly fromEnd: boolean) {}

  add(key: string, v: V): void {
    const list = this.map.get(key);
    if (list) list.push(v);
    else this.map.set(key, [v]);
  }

  /** Builds the lookup structure; returns this. */
  sealed(): this {
    this.common = this.commonAffix();
    const c = this.common.length;
    if (this.map.size <= AFFIX_SCAN_LIMIT) {
      this.scan = [];
      for (const [key, list] of this.map) {
        const n = key.length;
        const end = n === 0 ? -1 : key.charCodeAt(this.fromEnd ? 0 : n - 1);
        const split = n <= c ? -1 : key.charCodeAt(this.fromEnd ? n - 1 - c : c);
        this.scan.push(n, end, split, key, list);
      }
      this.root = null;
    } else {
      this.seal();
    }
    return this;
  }

  /** The longest head (or tail) all keys share. */
  private commonAffix(): string {
    const keys = [...this.map.keys()];
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
    return common;
  }

  private seal(): void {
    const common = this.common;
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
    if (root === null) return this.scanKeys(text, into);
    if (this.fromEnd ? !hasSuffix(text, this.common) : !hasPrefix(text, this.common)) return 0;
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

  // Keys sharing a long head (or tail) mostly differ at their far end, so that character is compared
  // first: a mismatch there rejects the key without comparing the whole head.
  private scanKeys(text: string, into: V[][]): number {
    const scan = this.scan;
    const fromEnd = this.fromEnd;
    const size = text.length;
    const c = this.common.length;
    let count = 0;
    for (let p = 0; p < scan.length; p += 5) {
      const n = scan[p] as number;
      if (n > size || (n > 0 && text.charCodeAt(fromEnd ? size - n : n - 1) !== scan[p + 1])) continue;
      if (n > c && text.charCodeAt(fromEnd ? size - 1 - c : c) !== scan[p + 2]) continue;
      const key = scan[p + 3] as string;
      if (fromEnd ? hasSuffix(text, key) : hasPrefix(text, key)) into[count++] = scan[p + 4] as V[];
    }
    return count;
  }
}
