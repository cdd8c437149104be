/**
 * One error class for all of Keyway, with a stable machine-readable `code`.
 * Messages say what the caller can do about the problem; `cause` is passed through.
 */
export const ErrorCode = {
  InvalidInput: 'INVALID_INPUT',
  MalformedJson: 'MALFORMED_JSON',
  SchemaInvalid: 'SCHEMA_INVALID',
  SchemaIncompatible: 'SCHEMA_INCOMPATIBLE',
  SchemaRetired: 'SCHEMA_RETIRED',
  UnknownEventType: 'UNKNOWN_EVENT_TYPE',
  UnknownSchemaVersion: 'UNKNOWN_SCHEMA_VERSION',
  ValidationFailed: 'VALIDATION_FAILED',
  EventTooLarge: 'EVENT_TOO_LARGE',
  BatchTooLarge: 'BATCH_TOO_LARGE',
  InvalidPattern: 'INVALID_PATTERN',
  Unauthenticated: 'UNAUTHENTICATED',
  Unauthorized: 'UNAUTHORIZED',
  UnknownDevice: 'UNKNOWN_DEVICE',
  NotFound: 'NOT_FOUND',
  Conflict: 'CONFLICT',
  GrantInvalid: 'GRANT_INVALID',
  GrantExpired: 'GRANT_EXPIRED',
  GrantNotYetValid: 'GRANT_NOT_YET_VALID',
  GrantRevoked: 'GRANT_REVOKED',
  GrantExhausted: 'GRANT_EXHAUSTED',
  TimeUncertain: 'TIME_UNCERTAIN',
  CommandRejected: 'COMMAND_REJECTED',
  ConfigInvalid: 'CONFIG_INVALID',
  HardwareUnavailable: 'HARDWARE_UNAVAILABLE',
  DoorFault: 'DOOR_FAULT',
  Timeout: 'TIMEOUT',
  Unavailable: 'UNAVAILABLE',
  AuditTampered: 'AUDIT_TAMPERED',
  Internal: 'INTERNAL',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export interface KeywayErrorOptions {
  cause?: unknown;
  /** Structured context (paths, ids, limits) safe to log and to return to clients. */
  details?: Record<string, unknown>;
}

export class KeywayError extends Error {
  override readonly name = 'KeywayError';
  readonly code: ErrorCode;
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: KeywayErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details ?? {};
  }

  toJSON(): { code: ErrorCode; message: string; details: Record<string, unknown> } {
    return { code: this.code, message: this.message, details: this.details };
  }
}

export function isKeywayError(value: unknown, code?: ErrorCode): value is KeywayError {
  return value instanceof KeywayError && (code === undefined || value.code === code);
}

/** Turns anything thrown into a message fit for a log line. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
