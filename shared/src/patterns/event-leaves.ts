import type { LeafValue } from './types.js';

/**
 * Where a leaf sits inside the event's arrays: (array, index, the array's flattened path), outermost
 * first. Two leaves can be used together by one rule only when they agree on every array they
 * share, which is event-ruler's array consistency ("a.b" and "a.c" must come from one element of a).
 */
export type Membership = readonly (readonly [object, number, string])[];

export interface Leaf {
  readonly value: LeafValue;
  readonly membership: Membership | null;
}

function isLeafValue(v: unknown): v is LeafValue {
  return v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';
}

function withIndex(m: Membership | null, arr: object, i: number, path: string): Membership {
  return m === null ? [[arr, i, path]] : [...m, [arr, i, path]];
}

function collectAt(value: unknown, membership: Membership | null, out: Leaf[]): void {
  if (isLeafValue(value)) {
    out.push({ value, membership });
  } else if (Array.isArray(value)) {
    const arr = value as unknown[];
    for (let i = 0; i < arr.length; i++) {
      const el = arr[i];
      // Objects inside the array carry no leaf for this path: exists applies to leaves only.
      // An array of values holds leaves of this one path, so no other field can need the same
      // element: its position is left out, which keeps [1,2,...] x [a,b,...] from multiplying out.
      if (isLeafValue(el) || Array.isArray(el)) collectAt(el, membership, out);
    }
  }
}

function walk(value: unknown, segments: readonly string[], from: number, membership: Membership | null, out: Leaf[]): void {
  if (from === segments.length) {
    collectAt(value, membership, out);
    return;
  }
  if (Array.isArray(value)) {
    const arr = value as unknown[];
    const path = segments.slice(0, from).join('.');
    for (let i = 0; i < arr.length; i++) walk(arr[i], segments, from, withIndex(membership, arr, i, path), out);
    return;
  }
  if (typeof value !== 'object' || value === null) return;
  const obj = value as Record<string, unknown>;
  // Event keys are joined with '.' when flattened, so "a.b" in the pattern also reaches a key "a.b".
  let key = segments[from] ?? '';
  for (let end = from + 1; ; end++) {
    if (Object.prototype.hasOwnProperty.call(obj, key)) walk(obj[key], segments, end, membership, out);
    if (end >= segments.length) break;
    key = `${key}.${segments[end] ?? ''}`;
  }
}

/** All leaves of the event whose flattened path equals the given segments. */
export function leavesAt(event: unknown, segments: readonly string[]): Leaf[] {
  const out: Leaf[] = [];
  walk(event, segments, 0, null, out);
  return out;
}

/** True when the two memberships agree on every array they share. */
export function consistent(a: Membership | null, b: Membership | null): boolean {
  if (a === null || b === null) return true;
  for (const [arrB, iB] of b) {
    for (const [arrA, iA] of a) {
      if (arrA === arrB && iA !== iB) return false;
    }
  }
  return true;
}

/** The membership that holds both; call only when consistent(a, b). */
export function merge(a: Membership | null, b: Membership | null): Membership | null {
  if (a === null) return b;
  if (b === null) return a;
  const extra = b.filter(([arrB]) => !a.some(([arrA]) => arrA === arrB));
  return extra.length === 0 ? a : [...a, ...extra];
}

/** True when a leaf at `fieldPath` could sit inside an array found at `arrayPath`. */
function under(fieldPath: string, arrayPath: string): boolean {
  return fieldPath === arrayPath || (fieldPath.length > arrayPath.length && fieldPath.startsWith(arrayPath) && fieldPath[arrayPath.length] === '.');
}

/**
 * Drops the positions of arrays that no remaining field can reach: they can no longer constrain
 * anything, and keeping them would make choices that differ only there look different, so two
 * arrays of a thousand objects would be explored as a million combinations.
 */
export function project(m: Membership | null, remainingPaths: readonly string[]): Membership | null {
  if (m === null) return null;
  const kept = m.filter(([, , arrayPath]) => remainingPaths.some((p) => under(p, arrayPath)));
  if (kept.length === m.length) return m;
  return kept.length === 0 ? null : kept;
}

/** Same arrays at the same positions. */
export function sameMembership(a: Membership | null, b: Membership | null): boolean {
  if (a === b) return true;
  if (a === null || b === null || a.length !== b.length) return false;
  return a.every(([arr, i]) => b.some(([arrB, iB]) => arrB === arr && iB === i));
}
