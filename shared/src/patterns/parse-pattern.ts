import { ErrorCode, KeywayError } from '../errors.js';
import { ipToHex, parseCidr } from './ip-address.js';
import { foldCase, parseWildcard } from './text-match.js';
import type { Branch, CompiledPattern, FieldCondition, Pattern, ValueMatcher } from './types.js';

/** Longest pattern text accepted, as EventBridge limits it. */
export const MAX_PATTERN_LENGTH = 2048;
/** Deepest object nesting accepted (each nested object or $or level counts one). */
export const MAX_PATTERN_DEPTH = 32;
/** Most branches a pattern may expand to once every $or is multiplied out. */
export const MAX_PATTERN_BRANCHES = 1024;

const OR = '$or';
// Names event-ruler reserves inside $or, so a field there cannot be mistaken for an operator.
const RESERVED_IN_OR = new Set([
  'exactly', 'equals-ignore-case', 'prefix', 'suffix', 'anything-but', 'exists', 'wildcard', 'numeric', 'cidr',
  '=', '<', '<=', '>', '>=', 'regex', 'not-wildcard', 'not-equals-ignore-case', 'date-after', 'date-on-or-after',
  'date-before', 'date-on-or-before', 'in-date-range', 'ip-address-in-range', 'ip-address-not-in-range',
]);

function fail(where: string, problem: string): never {
  throw new KeywayError(
    ErrorCode.InvalidPattern,
    `Invalid event pattern at ${where}: ${problem}. Correct the pattern and create the rule again.`,
    { details: { path: where, problem } },
  );
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${JSON.stringify(value)}`;
}

// JSON.parse silently turns 1e400 into Infinity and 1e-400 into 0; event-ruler refuses such operands.
const NUMBER_TOKEN = /"(?:[^"\\]|\\.)*"|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/g;
function checkNumberLiterals(text: string): void {
  for (const m of text.matchAll(NUMBER_TOKEN)) {
    const literal = m[1];
    if (literal === undefined) continue;
    const value = Number(literal);
    const underflow = value === 0 && /[1-9]/.test(literal.replace(/[eE].*$/, ''));
    if (!Number.isFinite(value) || underflow) fail('(number literal)', `cannot compare number ${literal}: outside the double-precision range`);
  }
}

function toJson(input: unknown): { value: unknown; text: string } {
  if (typeof input === 'string') {
    if (input.length > MAX_PATTERN_LENGTH) fail('(root)', `pattern is ${input.length} characters, more than the ${MAX_PATTERN_LENGTH} allowed`);
    let value: unknown;
    try {
      value = JSON.parse(input);
    } catch (error) {
      fail('(root)', `malformed JSON (${error instanceof Error ? error.message : String(error)})`);
    }
    checkNumberLiterals(input);
    return { value, text: input };
  }
  let text: string | undefined;
  try {
    text = JSON.stringify(input);
  } catch (error) {
    fail('(root)', `pattern is not serialisable as JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  if (text === undefined) fail('(root)', 'filter is not an object');
  if (text.length > MAX_PATTERN_LENGTH) fail('(root)', `pattern is ${text.length} characters, more than the ${MAX_PATTERN_LENGTH} allowed`);
  return { value: input, text };
}

function requireFiniteNumber(value: unknown, where: string, what: string): number {
  if (typeof value !== 'number') fail(where, `value of ${what} must be numeric, got ${describe(value)}`);
  if (!Number.isFinite(value)) fail(where, `cannot compare number ${String(value)}`);
  return value;
}

function compileNumeric(operand: unknown, where: string): ValueMatcher {
  if (!Array.isArray(operand)) fail(where, `value of numeric must be an array, got ${describe(operand)}`);
  const [op, first, op2, second, ...rest] = operand as unknown[];
  if (typeof op !== 'string') fail(`${where}[0]`, `numeric expression must start with an operator ("=", "<", "<=", ">", ">="), got ${describe(op)}`);
  const value = requireFiniteNumber(first, `${where}[1]`, op);
  const lower = op === '>' || op === '>=';
  switch (op) {
    case '=':
    case '<':
    case '<=':
      if (operand.length > 2) fail(`${where}[2]`, `too many elements in numeric expression: "${op}" must be the only or the last comparison (lower bound first)`);
      if (op === '=') return { kind: 'numeric', lo: value, loOpen: false, hi: value, hiOpen: false };
      return { kind: 'numeric', lo: -Infinity, loOpen: true, hi: value, hiOpen: op === '<' };
    case '>':
    case '>=':
      break;
    default:
      fail(`${where}[0]`, `unrecognised numeric operator ${JSON.stringify(op)}`);
  }
  if (operand.length === 2) return { kind: 'numeric', lo: value, loOpen: op === '>', hi: Infinity, hiOpen: true };
  if (op2 !== '<' && op2 !== '<=') fail(`${where}[2]`, `bad numeric range operator ${describe(op2)}: the upper bound must use "<" or "<="`);
  const top = requireFiniteNumber(second, `${where}[3]`, op2);
  if (rest.length > 0) fail(`${where}[4]`, 'too many terms in numeric range expression');
  if (!(value < top)) fail(where, `bottom must be less than top (${value} is not less than ${top})`);
  return { kind: 'numeric', lo: value, loOpen: lower && op === '>', hi: top, hiOpen: op2 === '<' };
}

function nonEmptyStringList(value: unknown, where: string, what: string, allowEmptyText: boolean): string[] {
  const list = Array.isArray(value) ? (value as unknown[]) : [value];
  if (Array.isArray(value) && list.length === 0) fail(where, `empty ${what} list is not allowed`);
  return list.map((v, i) => {
    const at = Array.isArray(value) ? `${where}[${i}]` : where;
    if (typeof v !== 'string') fail(at, `${what} match pattern must be a string, got ${describe(v)}`);
    if (!allowEmptyText && v === '') fail(at, `empty ${what} is not allowed`);
    return v;
  });
}

function compileAnythingBut(operand: unknown, where: string): ValueMatcher {
  if (isPlainObject(operand)) {
    const keys = Object.keys(operand);
    if (keys.length !== 1) fail(where, `anything-but takes exactly one of prefix, suffix, equals-ignore-case, wildcard; got ${keys.length} keys`);
    const op = keys[0] ?? '';
    const inner = operand[op];
    const at = `${where}.${op}`;
    switch (op) {
      case 'prefix':
        return { kind: 'anything-but-prefix', values: nonEmptyStringList(inner, at, 'prefix', false) };
      case 'suffix':
        return { kind: 'anything-but-suffix', values: nonEmptyStringList(inner, at, 'suffix', false) };
      case 'equals-ignore-case':
        return { kind: 'anything-but-ignore-case', values: new Set(nonEmptyStringList(inner, at, 'equals-ignore-case', true).map(foldCase)) };
      case 'wildcard':
        return {
          kind: 'anything-but-wildcard',
          regexes: nonEmptyStringList(inner, at, 'wildcard', true).map((w) => {
            const parsed = parseWildcard(w);
            if (typeof parsed === 'string') fail(at, parsed);
            return parsed.regex;
          }),
        };
      default:
        fail(at, `unsupported anything-but operator ${JSON.stringify(op)} (use prefix, suffix, equals-ignore-case or wildcard)`);
    }
  }
  const list = Array.isArray(operand) ? (operand as unknown[]) : [operand];
  if (list.length === 0) fail(where, 'anything-but list must not be empty');
  const strings = new Set<string>();
  const numbers = new Set<number>();
  list.forEach((v, i) => {
    const at = Array.isArray(operand) ? `${where}[${i}]` : where;
    if (typeof v === 'string') strings.add(v);
    else if (typeof v === 'number') numbers.add(requireFiniteNumber(v, at, 'anything-but'));
    else fail(at, `anything-but values must be strings or numbers, got ${describe(v)}`);
  });
  if (strings.size > 0 && numbers.size > 0) fail(where, 'inside an anything-but list, values must be all numbers or all strings, not mixed');
  return { kind: 'anything-but', strings, numbers };
}

function requireString(value: unknown, where: string, what: string): string {
  if (typeof value !== 'string') fail(where, `${what} match pattern must be a string, got ${describe(value)}`);
  return value;
}

function compileCaseInsensitiveOperand(operand: unknown, where: string, op: 'prefix' | 'suffix'): ValueMatcher {
  if (isPlainObject(operand)) {
    const keys = Object.keys(operand);
    if (keys.length !== 1) fail(where, `${op} takes one nested operator; got ${keys.length} keys`);
    if (keys[0] !== 'equals-ignore-case') fail(`${where}.${keys[0] ?? ''}`, `unsupported ${op} operator ${JSON.stringify(keys[0])} (only equals-ignore-case)`);
    const text = requireString(operand['equals-ignore-case'], `${where}.equals-ignore-case`, 'equals-ignore-case');
    return { kind: op, value: foldCase(text), ignoreCase: true };
  }
  return { kind: op, value: requireString(operand, where, op), ignoreCase: false };
}

function compileOperator(expr: Record<string, unknown>, where: string): ValueMatcher {
  const keys = Object.keys(expr);
  if (keys.length === 0) fail(where, 'empty match expression: name an operator such as prefix or numeric');
  if (keys.length > 1) fail(where, `only one key allowed in a match expression, got ${keys.map((k) => JSON.stringify(k)).join(', ')}`);
  const op = keys[0] ?? '';
  const operand = expr[op];
  const at = `${where}.${op}`;
  switch (op) {
    case 'exactly':
      return { kind: 'exact-string', value: requireString(operand, at, 'exact') };
    case 'prefix':
    case 'suffix':
      return compileCaseInsensitiveOperand(operand, at, op);
    case 'equals-ignore-case':
      return { kind: 'equals-ignore-case', value: foldCase(requireString(operand, at, 'equals-ignore-case')) };
    case 'wildcard': {
      const source = requireString(operand, at, 'wildcard');
      const parsed = parseWildcard(source);
      if (typeof parsed === 'string') fail(at, parsed);
      return { kind: 'wildcard', source, ...parsed };
    }
    case 'numeric':
      return compileNumeric(operand, at);
    case 'anything-but':
      return compileAnythingBut(operand, at);
    case 'exists':
      if (typeof operand !== 'boolean') fail(at, `exists match pattern must be either true or false, got ${describe(operand)}`);
      return operand ? { kind: 'exists' } : { kind: 'absent' };
    case 'cidr': {
      const range = parseCidr(requireString(operand, at, 'cidr'));
      if (typeof range === 'string') fail(at, range);
      return { kind: 'ip-range', ...range };
    }
    default:
      fail(at, `unrecognised match type ${JSON.stringify(op)}`);
  }
}

function compileAlternative(value: unknown, where: string): ValueMatcher {
  if (typeof value === 'string') {
    const ip = ipToHex(value);
    return ip === null ? { kind: 'exact-string', value } : { kind: 'ip-range', lo: ip, hi: ip };
  }
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) fail(where, `cannot compare number ${String(value)}`);
    return { kind: 'exact-number', value: value === 0 ? 0 : value };
  }
  if (typeof value === 'boolean' || value === null) return { kind: 'literal', value };
  if (isPlainObject(value)) return compileOperator(value, where);
  return fail(where, `match value must be a string, number, true, false, null or an operator object, got ${describe(value)}`);
}

function matcherKey(m: ValueMatcher): string {
  switch (m.kind) {
    case 'anything-but':
      return `ab:${JSON.stringify([...m.strings].sort())}:${JSON.stringify([...m.numbers].sort((a, b) => a - b))}`;
    case 'anything-but-ignore-case':
      return `abi:${JSON.stringify([...m.values].sort())}`;
    case 'anything-but-wildcard':
      return `abw:${JSON.stringify(m.regexes.map((r) => r.source).sort())}`;
    case 'anything-but-prefix':
    case 'anything-but-suffix':
      return `${m.kind}:${JSON.stringify([...m.values].sort())}`;
    case 'wildcard':
      return `w:${JSON.stringify(m.source)}`;
    case 'numeric':
      // JSON.stringify turns infinities into null, so spell the bounds out.
      return `n:${m.loOpen ? '(' : '['}${String(m.lo)},${String(m.hi)}${m.hiOpen ? ')' : ']'}`;
    case 'exact-string':
    case 'exact-number':
    case 'literal':
    case 'ip-range':
    case 'prefix':
    case 'suffix':
    case 'equals-ignore-case':
    case 'exists':
    case 'absent':
      return JSON.stringify(m);
  }
}

function compileField(path: string, values: unknown[], where: string): FieldCondition {
  if (values.length === 0) fail(where, 'empty arrays are not allowed: list at least one value or operator');
  const matchers = values.map((v, i) => compileAlternative(v, `${where}[${i}]`));
  const key = [...new Set(matchers.map(matcherKey))].sort().join('|');
  return {
    path,
    segments: path.split('.'),
    matchers,
    key,
    allowsAbsence: matchers.some((m) => m.kind === 'absent'),
    hasValueMatchers: matchers.some((m) => m.kind !== 'absent'),
  };
}

/** Kinds whose alternatives are single values, looked up by equality. */
const SINGLE_VALUE_KINDS: ReadonlySet<ValueMatcher['kind']> = new Set(['exact-string', 'exact-number', 'literal', 'equals-ignore-case']);

/**
 * The field as one condition per alternative when every alternative is a single value looked up
 * by equality (`type: ["a", "b"]` as `type: ["a"]` and `type: ["b"]`), each keyed as if written
 * alone; any other field as it is. Lets the matcher share one state per value between rules.
 */
export function splitAlternatives(field: FieldCondition): FieldCondition[] {
  if (!field.matchers.every((m) => SINGLE_VALUE_KINDS.has(m.kind))) return [field];
  const byKey = new Map(field.matchers.map((m) => [matcherKey(m), m] as const));
  if (byKey.size < 2) return [field];
  return [...byKey].map(([key, m]) => ({ ...field, matchers: [m], key }));
}

type BranchMap = Map<string, FieldCondition>;

function walkObject(obj: Record<string, unknown>, prefix: string, where: string, branches: BranchMap[], insideOr: boolean, depth: number): void {
  if (depth > MAX_PATTERN_DEPTH) fail(where, `nesting is deeper than ${MAX_PATTERN_DEPTH} levels`);
  const keys = Object.keys(obj);
  if (keys.length === 0) fail(where, 'empty objects are not allowed');
  for (const key of keys) {
    const value = obj[key];
    const at = where === '(root)' ? key : `${where}.${key}`;
    if (key === OR) {
      expandOr(value, prefix, at, branches, depth);
      continue;
    }
    if (insideOr && RESERVED_IN_OR.has(key)) fail(at, `"${key}" is a reserved name and cannot be used as a field inside $or`);
    const path = prefix === '' ? key : `${prefix}.${key}`;
    if (Array.isArray(value)) {
      const field = compileField(path, value as unknown[], at);
      if (branches.length === 0) branches.push(new Map());
      // Later fields replace earlier ones on the same path, as event-ruler's compiler does.
      for (const b of branches) b.set(path, field);
    } else if (isPlainObject(value)) {
      walkObject(value, path, at, branches, insideOr, depth + 1);
    } else {
      fail(at, `"${key}" must be an object or an array, got ${describe(value)}`);
    }
  }
}

function expandOr(value: unknown, prefix: string, where: string, branches: BranchMap[], depth: number): void {
  if (!Array.isArray(value)) fail(where, '$or must be followed by an array of objects');
  const list = value as unknown[];
  if (list.length < 2) fail(where, 'there must be at least 2 objects in a $or relationship');
  const current = branches.map((b) => new Map(b));
  branches.length = 0;
  list.forEach((item, i) => {
    const at = `${where}[${i}]`;
    if (!isPlainObject(item)) fail(at, 'only JSON objects are allowed in the array of a $or relationship');
    const forked = current.length === 0 ? [new Map<string, FieldCondition>()] : current.map((b) => new Map(b));
    walkObject(item, prefix, at, forked, true, depth + 1);
    branches.push(...forked);
    if (branches.length > MAX_PATTERN_BRANCHES) fail(where, `$or expands to more than ${MAX_PATTERN_BRANCHES} combinations`);
  });
}

/** Validates a pattern and expands it into branches of field conditions. */
export function compilePattern(input: unknown): CompiledPattern {
  const { value } = toJson(input);
  if (!isPlainObject(value)) fail('(root)', `filter is not an object, got ${describe(value)}`);
  const branches: BranchMap[] = [];
  walkObject(value, '', '(root)', branches, false, 1);
  const compiled: Branch[] = branches.map((b) => [...b.values()]);
  return { pattern: value, branches: compiled };
}

/**
 * Parses and validates an EventBridge event pattern (JSON text or an already-parsed object).
 * Throws KeywayError(INVALID_PATTERN) whose message and `details.path` name the offending place.
 */
export function parsePattern(input: unknown): Pattern {
  return compilePattern(input).pattern;
}
