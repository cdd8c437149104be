import { ErrorCode, KeywayError } from '@keyway/shared';

// Socket-level failures: the server is down, restarting or unreachable.
const SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);

// SQLSTATEs that mean "this server cannot serve you right now" rather than "your statement is wrong":
// connection exceptions (class 08), shutdown and start-up (57P01..57P03), too many connections,
// read-only after failover (25006), out of disk or memory (53xxx).
function isUnavailableState(code: string): boolean {
  return code.startsWith('08') || code.startsWith('53') || ['57P01', '57P02', '57P03', '25006'].includes(code);
}

// Errors pg raises itself (no SQLSTATE) when a connection dies or cannot be made in time.
const CLIENT_CONNECTION_MESSAGE =
  /Connection terminated|connection error|not queryable|timeout exceeded when trying to connect|Connection closed/i;

function codeOf(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null || !('code' in error)) return undefined;
  return typeof error.code === 'string' ? error.code : undefined;
}

/** Describes where the store connects (host, port, database), never the credentials. */
export function describeTarget(connectionString: string): string {
  try {
    const url = new URL(connectionString);
    const db = url.pathname.replace(/^\//, '') || '(default database)';
    return `PostgreSQL at ${url.hostname || 'localhost'}:${url.port || '5432'}/${db}`;
  } catch {
    return 'the configured PostgreSQL server';
  }
}

/**
 * Turns what pg throws into a KeywayError: UNAVAILABLE when the server cannot be reached or went
 * away (the caller may retry; the store reconnects by itself), CONFLICT for a deadlock or
 * serialization failure (retry), TIMEOUT when a statement ran past its limit, CONFIG_INVALID when
 * the server refuses the credentials or database, INVALID_INPUT for text PostgreSQL cannot store, INTERNAL for anything else.
 */
export function toKeywayError(error: unknown, target: string, action: string): KeywayError {
  if (error instanceof KeywayError) return error;
  const code = codeOf(error);
  const message = error instanceof Error ? error.message : String(error);
  const details = { target, action, ...(code === undefined ? {} : { pgCode: code }) };
  if (
    (code !== undefined && (SOCKET_CODES.has(code) || isUnavailableState(code))) ||
    (code === undefined && CLIENT_CONNECTION_MESSAGE.test(message))
  ) {
    return new KeywayError(
      ErrorCode.Unavailable,
      `cannot ${action}: ${target} is unreachable (${code ?? message}); retry later, the store reconnects by itself`,
      { cause: error, details },
    );
  }
  // Wrong password, no such role or database: retrying will not help, the configuration must change.
  if (code !== undefined && (code.startsWith('28') || code === '3D000')) {
    return new KeywayError(
      ErrorCode.ConfigInvalid,
      `cannot ${action}: ${target} refused the connection (${message}); check the user, password and database in the connection string`,
      { cause: error, details },
    );
  }
  if (code === '40P01' || code === '40001') {
    return new KeywayError(
      ErrorCode.Conflict,
      `cannot ${action}: ${target} aborted the transaction to resolve a conflict with another writer; retry`,
      { cause: error, details },
    );
  }
  if (code === '23505') {
    return new KeywayError(ErrorCode.Conflict, `cannot ${action}: a record with this id already exists`, {
      cause: error,
      details,
    });
  }
  if (code === '57014' || message === 'Query read timeout') {
    return new KeywayError(
      ErrorCode.Timeout,
      `cannot ${action}: the statement ran past its time limit on ${target}; retry, or raise statementTimeoutMs`,
      { cause: error, details },
    );
  }
  if (code === '22021' || code === '22P05') {
    return new KeywayError(
      ErrorCode.InvalidInput,
      `cannot ${action}: a text value holds a character PostgreSQL cannot store (such as NUL); remove it`,
      { cause: error, details },
    );
  }
  return new KeywayError(ErrorCode.Internal, `cannot ${action} on ${target}: ${message}`, { cause: error, details });
}

/** True when a failure left the connection unusable, so it must be discarded rather than reused. */
export function breaksConnection(error: unknown): boolean {
  const mapped = error instanceof KeywayError ? error : undefined;
  if (mapped) return mapped.code === ErrorCode.Unavailable || mapped.code === ErrorCode.Timeout;
  const code = codeOf(error);
  return code === undefined || SOCKET_CODES.has(code) || isUnavailableState(code);
}
