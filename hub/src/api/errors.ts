import { ErrorCode, KeywayError, type ErrorCode as Code } from '@keyway/shared';

const STATUS: Partial<Record<Code, number>> = {
  [ErrorCode.InvalidInput]: 400,
  [ErrorCode.MalformedJson]: 400,
  [ErrorCode.ValidationFailed]: 400,
  [ErrorCode.InvalidPattern]: 400,
  [ErrorCode.SchemaInvalid]: 400,
  [ErrorCode.SchemaIncompatible]: 409,
  [ErrorCode.SchemaRetired]: 410,
  [ErrorCode.UnknownEventType]: 400,
  [ErrorCode.UnknownSchemaVersion]: 400,
  [ErrorCode.Unauthenticated]: 401,
  [ErrorCode.Unauthorized]: 403,
  [ErrorCode.NotFound]: 404,
  [ErrorCode.UnknownDevice]: 404,
  [ErrorCode.Conflict]: 409,
  [ErrorCode.EventTooLarge]: 413,
  [ErrorCode.BatchTooLarge]: 413,
  [ErrorCode.GrantInvalid]: 422,
  [ErrorCode.ConfigInvalid]: 400,
  [ErrorCode.Unavailable]: 503,
  [ErrorCode.Timeout]: 504,
};

export function httpStatus(error: KeywayError): number {
  return STATUS[error.code] ?? 500;
}

/** The error body every endpoint uses: `{ error: { code, message, details } }`. */
export interface ErrorBody {
  error: { code: string; message: string; details?: Record<string, unknown> };
}

export const errorBodySchema = {
  type: 'object',
  properties: {
    error: {
      type: 'object',
      properties: { code: { type: 'string' }, message: { type: 'string' }, details: { type: 'object', additionalProperties: true } },
      required: ['code', 'message'],
    },
  },
  required: ['error'],
} as const;

export function forbidden(account: string, what: string): KeywayError {
  return new KeywayError(ErrorCode.Unauthorized, `account ${account} may not ${what}; use a key of an account that may`, { details: { account } });
}
