import { z } from 'zod';
import type { EventEnvelope } from '../envelope.js';
import { ErrorCode, KeywayError } from '../errors.js';
import type { ValidationIssue } from './draft04.js';

/** The CloudEvents 1.0 structured-mode envelope Keyway accepts. */
export const EnvelopeShape = z.strictObject({
  specversion: z.literal('1.0'),
  id: z.string().min(1).max(256),
  source: z.string().min(1).max(512),
  type: z.string().min(1).max(256),
  time: z.string().datetime({ offset: true }),
  dataschema: z.string().min(1).max(512),
  datacontenttype: z.literal('application/json'),
  subject: z.string().min(1).max(512).optional(),
  traceparent: z.string().regex(/^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/, 'must be a W3C traceparent').optional(),
  data: z.unknown(),
});

export function zodIssues(issues: ReadonlyArray<{ path: PropertyKey[]; message: string }>, prefix = ''): ValidationIssue[] {
  return issues.map((i) => ({ path: `${prefix}/${i.path.map(String).join('/')}`.replace(/\/$/, '') || '/', message: i.message }));
}

export function parseEnvelope(value: unknown): EventEnvelope {
  const result = EnvelopeShape.safeParse(value);
  if (!result.success) {
    const issues = zodIssues(result.error.issues);
    throw new KeywayError(ErrorCode.ValidationFailed, `the event envelope is invalid: ${issues.map((i) => `${i.path} ${i.message}`).join('; ')}`, { details: { issues } });
  }
  return result.data;
}
