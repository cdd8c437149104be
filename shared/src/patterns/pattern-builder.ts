import type { EventDataMap } from '../generated/events.js';
import { parsePattern } from './parse-pattern.js';
import type { Pattern } from './types.js';

/*
 * A typed front end to the pattern language: field names and literal values are checked against
 * the event's data type at compile time, and the result is validated like any other pattern.
 */

type StringSetOperand = string | readonly string[];

/** Operators allowed on a string leaf whose allowed values are S. */
export type StringAlternative<S extends string> =
  | S
  | { readonly exactly: S }
  | { readonly prefix: string | { readonly 'equals-ignore-case': string } }
  | { readonly suffix: string | { readonly 'equals-ignore-case': string } }
  | { readonly 'equals-ignore-case': string }
  | { readonly wildcard: string }
  | { readonly cidr: string }
  | {
      readonly 'anything-but':
        | S
        | readonly S[]
        | { readonly prefix: StringSetOperand }
        | { readonly suffix: StringSetOperand }
        | { readonly 'equals-ignore-case': StringSetOperand }
        | { readonly wildcard: StringSetOperand };
    };

export type NumericExpression =
  | readonly ['=' | '<' | '<=' | '>' | '>=', number]
  | readonly ['>' | '>=', number, '<' | '<=', number];

/** Operators allowed on a number leaf. */
export type NumberAlternative = number | { readonly numeric: NumericExpression } | { readonly 'anything-but': number | readonly number[] };

type Leaf = string | number | boolean | null;

/** One alternative for a leaf of type V (a union is split by kind, without distributing literals). */
export type LeafAlternative<V> =
  | ([Extract<V, string>] extends [never] ? never : StringAlternative<Extract<V, string>>)
  | ([Extract<V, number>] extends [never] ? never : NumberAlternative)
  | ([Extract<V, boolean>] extends [never] ? never : Extract<V, boolean>)
  | (null extends V ? null : never)
  | { readonly exists: boolean };

/** What a pattern may say about a field of type V: alternatives for a leaf, a sub-pattern for an object. */
export type FieldPattern<V> = [NonNullable<V>] extends [readonly (infer E)[]]
  ? FieldPattern<E>
  : [NonNullable<V>] extends [Leaf]
    ? readonly [LeafAlternative<V>, ...LeafAlternative<V>[]]
    : NonNullable<V> extends object
      ? PatternFields<NonNullable<V>>
      : never;

/** A pattern over an object type T: known keys only, each optional, plus $or over the same type. */
export type PatternFields<T> = { readonly [K in keyof T]?: FieldPattern<T[K]> } & {
  readonly $or?: readonly [PatternFields<T>, PatternFields<T>, ...PatternFields<T>[]];
};

/** The CloudEvents envelope fields a pattern may test besides `type` and `data`. */
export interface EnvelopeFields {
  specversion: string;
  id: string;
  source: string;
  time: string;
  subject: string;
  dataschema: string;
  datacontenttype: string;
  traceparent: string;
}

export type EventPatternFields<D> = PatternFields<EnvelopeFields> & { readonly data?: PatternFields<D> };

/** A validated pattern that remembers which event type it selects. */
export type TypedPattern<T extends string> = Pattern & { readonly type: readonly [T] };

/**
 * Returns `pattern(type, fields)` typed over an interface map (event type -> data type).
 * Unknown fields, values outside a field's enum and operators of the wrong operand type fail to compile.
 */
export function makePatternBuilder<M>(): <T extends keyof M & string>(type: T, fields?: EventPatternFields<M[T]>) => TypedPattern<T> {
  return <T extends keyof M & string>(type: T, fields?: EventPatternFields<M[T]>): TypedPattern<T> => {
    const built = { ...(fields ?? {}), type: [type] };
    return parsePattern(built) as TypedPattern<T>;
  };
}

/** The builder over Keyway's generated event types (latest version of each). */
export const pattern = makePatternBuilder<EventDataMap>();
