/** A parsed, validated pattern in its JSON form (what the user wrote, after validation). */
export type Pattern = Record<string, unknown>;

/** A leaf value of an event, as the matcher sees it after flattening. */
export type LeafValue = string | number | boolean | null;

/**
 * One alternative inside a field's array, in compiled form.
 * Strings compare as written; numbers compare by value; IP addresses compare as addresses.
 */
export type ValueMatcher =
  | { readonly kind: 'exact-string'; readonly value: string }
  | { readonly kind: 'exact-number'; readonly value: number }
  | { readonly kind: 'literal'; readonly value: boolean | null }
  | { readonly kind: 'ip-range'; readonly lo: string; readonly hi: string }
  | { readonly kind: 'prefix'; readonly value: string; readonly ignoreCase: boolean }
  | { readonly kind: 'suffix'; readonly value: string; readonly ignoreCase: boolean }
  | { readonly kind: 'equals-ignore-case'; readonly value: string }
  | { readonly kind: 'wildcard'; readonly source: string; readonly regex: RegExp; readonly literalPrefix: string; readonly literalSuffix: string }
  | { readonly kind: 'numeric'; readonly lo: number; readonly loOpen: boolean; readonly hi: number; readonly hiOpen: boolean }
  | { readonly kind: 'exists' }
  | { readonly kind: 'absent' }
  | { readonly kind: 'anything-but'; readonly strings: ReadonlySet<string>; readonly numbers: ReadonlySet<number> }
  | { readonly kind: 'anything-but-prefix'; readonly values: readonly string[] }
  | { readonly kind: 'anything-but-suffix'; readonly values: readonly string[] }
  | { readonly kind: 'anything-but-ignore-case'; readonly values: ReadonlySet<string> }
  | { readonly kind: 'anything-but-wildcard'; readonly regexes: readonly RegExp[] };

export type ValueMatcherKind = ValueMatcher['kind'];

/** One field of a branch: a flattened path (segments joined by '.') and its alternatives (OR). */
export interface FieldCondition {
  readonly path: string;
  readonly segments: readonly string[];
  readonly matchers: readonly ValueMatcher[];
  /** Canonical text of the alternatives, equal for equal conditions (used to share automaton states). */
  readonly key: string;
  /** True when one alternative is `exists: false`, so the field may be satisfied by absence. */
  readonly allowsAbsence: boolean;
  /** True when some alternative needs a value (anything but `exists: false`). */
  readonly hasValueMatchers: boolean;
}

/** A conjunction of fields; a pattern is the OR of its branches ($or expands into branches). */
export type Branch = readonly FieldCondition[];

export interface CompiledPattern {
  readonly pattern: Pattern;
  readonly branches: readonly Branch[];
}
