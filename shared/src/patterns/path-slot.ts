import { leavesAt, type Leaf } from './event-leaves.js';
import type { LeafValue } from './types.js';

const hasOwn = (obj: object, key: string): boolean => Object.prototype.hasOwnProperty.call(obj, key);

/** How a path resolved in the current event (plain numbers: const enums are not inlined across files here). */
export const Resolved = {
  Absent: 0,
  /** Exactly one leaf, reached without crossing an array: `single` holds it. */
  Single: 1,
  /** Any other shape: `leaves` holds them with their array positions. */
  Many: 2,
} as const;
export type Resolved = (typeof Resolved)[keyof typeof Resolved];

/**
 * Paths per matcher that get a compiled reader (about 1-2 KB of code each once run); slots are
 * kept for the matcher's life, so a matcher fed ever new paths stops compiling at this many.
 */
const COMPILED_READER_LIMIT = 1024;

/** What a compiled reader returns when the path needs the general walk (arrays, dotted keys). */
const NEEDS_WALK = 3;

/** Resolves one path in an event: Resolved.Absent, Resolved.Single (with slot.single set) or NEEDS_WALK. */
type Reader = (slot: PathSlot, event: unknown) => number;

/**
 * Compiles the plain-object walk of one path into its own function. Property reads with a
 * constant key in a function of their own keep a monomorphic inline cache for the event's shape,
 * where the shared generic walk does a megamorphic keyed lookup for every key and every absent
 * dotted key (about 40 ns against 10 per path). Keys enter the source only through
 * JSON.stringify, so a pattern cannot inject code. Returns null where the generic walk must run:
 * names found on Object.prototype (they need own-property checks), or code generation disallowed.
 */
function compileReader(segments: readonly string[]): Reader | null {
  if (segments.some((s) => s in Object.prototype)) return null;
  const lines = ["'use strict';", 'let c = event;'];
  segments.forEach((segment, i) => {
    lines.push("if (typeof c !== 'object' || c === null) return 0;", `if (Array.isArray(c)) return ${NEEDS_WALK};`);
    for (let j = i + 1; j < segments.length; j++) {
      lines.push(`if (c[${JSON.stringify(segments.slice(i, j + 1).join('.'))}] !== undefined) return ${NEEDS_WALK};`);
    }
    lines.push(`c = c[${JSON.stringify(segment)}];`, 'if (c === undefined) return 0;');
  });
  lines.push(
    "if (c === null || typeof c === 'string' || typeof c === 'number' || typeof c === 'boolean') { slot.single = c; return 1; }",
    `return Array.isArray(c) ? ${NEEDS_WALK} : 0;`,
  );
  try {
    // eslint-disable-next-line @typescript-eslint/no-implied-eval -- see above: keys are JSON string literals
    return new Function('slot', 'event', lines.join('\n')) as Reader;
  } catch {
    return null; // e.g. node --disallow-code-generation-from-strings
  }
}

/**
 * One field path used by the automaton and how to find its leaves in an event. The matcher calls
 * resolve() once per path per event (it caches the outcome by `id`). The common case (plain nested
 * objects) allocates nothing.
 */
export class PathSlot {
  readonly segments: readonly string[];
  readonly id: number;
  /** joined[i][j]: segments i..j joined with '.', for event keys that themselves contain dots. */
  private readonly joined: readonly (readonly string[])[];
  private readonly inherited: readonly boolean[];
  private readonly reader: Reader | null;
  kind: Resolved = Resolved.Absent;
  single: LeafValue = null;
  leaves: Leaf[] = [];

  constructor(segments: readonly string[], id: number) {
    this.segments = segments;
    this.id = id;
    this.joined = segments.map((_, i) => {
      const row: string[] = [];
      for (let j = i + 1; j < segments.length; j++) row.push(segments.slice(i, j + 1).join('.'));
      return row;
    });
    // Keys like "constructor" exist on every object's prototype; only for those is an own-property check needed.
    this.inherited = segments.map((s) => s in Object.prototype);
    this.reader = id < COMPILED_READER_LIMIT ? compileReader(segments) : null;
  }

  /** Finds the path's leaves in the event; returns (and keeps) the Resolved kind. */
  resolve(event: unknown): Resolved {
    const reader = this.reader;
    if (reader === null) {
      this.resolveInto(event);
    } else {
      const kind = reader(this, event);
      if (kind === NEEDS_WALK) this.slow(event);
      else this.kind = kind as Resolved;
    }
    return this.kind;
  }

  private resolveInto(event: unknown): void {
    const segments = this.segments;
    let cur: unknown = event;
    for (let i = 0; i < segments.length; i++) {
      if (typeof cur !== 'object' || cur === null) return this.set(Resolved.Absent);
      if (Array.isArray(cur)) return this.slow(event);
      const obj = cur as Record<string, unknown>;
      const dotted = this.joined[i] as readonly string[];
      // No prototype property has a dot in its name, so a plain read is a safe presence test here.
      for (let j = 0; j < dotted.length; j++) if (obj[dotted[j] as string] !== undefined) return this.slow(event);
      const key = segments[i] as string;
      cur = obj[key];
      if (cur === undefined || (this.inherited[i] === true && !hasOwn(obj, key))) return this.set(Resolved.Absent);
    }
    if (cur === null || typeof cur === 'string' || typeof cur === 'number' || typeof cur === 'boolean') {
      this.single = cur;
      this.kind = Resolved.Single;
      return;
    }
    if (Array.isArray(cur)) return this.slow(event);
    this.set(Resolved.Absent);
  }

  private set(kind: Resolved): void {
    this.kind = kind;
  }

  private slow(event: unknown): void {
    this.leaves = leavesAt(event, this.segments);
    this.kind = this.leaves.length === 0 ? Resolved.Absent : Resolved.Many;
  }
}
