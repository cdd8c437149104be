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
