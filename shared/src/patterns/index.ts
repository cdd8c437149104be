/**
 * EventBridge's event-pattern language for Keyway's bus.
 *
 * - parsePattern(input): validate a pattern (JSON text or object); errors are
 *   KeywayError(INVALID_PATTERN) with `details.path` naming where the problem is.
 * - testPattern(pattern, event): EventBridge's TestEventPattern, by a plain reference interpreter.
 * - RuleMatcher: all rules compiled into one shared automaton; add/remove at run time, match(event)
 *   returns the ids of every matching rule.
 * - pattern / makePatternBuilder<M>(): typed builder, checked against the generated event types.
 *
 * Semantics follow AWS event-ruler (see conformance.test.ts): numbers compare by value, IP-address
 * strings compare as addresses, arrays match element-consistently, exists:false matches an absent
 * field (not a null one), anything-but never matches a missing field.
 */
export type { Pattern, LeafValue, ValueMatcher, FieldCondition, Branch, CompiledPattern } from './types.js';
export { parsePattern, compilePattern, MAX_PATTERN_LENGTH, MAX_PATTERN_DEPTH, MAX_PATTERN_BRANCHES } from './parse-pattern.js';
export { testPattern } from './reference-interpreter.js';
export { RuleMatcher } from './rule-matcher.js';
export { makePatternBuilder, pattern } from './pattern-builder.js';
export type {
  EventPatternFields,
  FieldPattern,
  LeafAlternative,
  NumberAlternative,
  NumericExpression,
  PatternFields,
  StringAlternative,
  TypedPattern,
  EnvelopeFields,
} from './pattern-builder.js';
