export type { Pattern, LeafValue, ValueMatcher, FieldCondition, Branch, CompiledPattern } from './types.js';
export { parsePattern, compilePattern, MAX_PATTERN_LENGTH, MAX_PATTERN_DEPTH, MAX_PATTERN_BRANCHES } from './parse-pattern.js';
export { testPattern } from './reference-interpreter.js';
export { RuleMatcher } from './rule-matcher.js';
