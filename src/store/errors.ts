// Which database failures mean "the database is not reachable right now" rather than "this query is
// wrong": those answer 503 res.error.service.unavailable (docs/decisions.md, transport errors), so a
// load balancer or client retries, and the node recovers on its own when the database returns.
import { WardenError } from '../server/errors.ts';

/** Socket-level failures (pg and Node's net layer). */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/**
 * SQLSTATEs that say the server is away, overloaded or shutting down (PostgreSQL appendix A):
 * class 08 connection exception, 53300 too_many_connections, 57P01–57P03 admin/crash shutdown and
 * cannot_connect_now, 57014 query_canceled (statement_timeout), 55P03 lock_not_available (lock_timeout),
 * 25006 read_only_sql_transaction (a hot standby after failover, or a database set read-only).
 */
const UNAVAILABLE_SQLSTATES = new Set(['53300', '57P01', '57P02', '57P03', '57014', '55P03', '25006']);

/** Messages pg and pg-pool use for failures that carry no code. */
const UNAVAILABLE_MESSAGES = [
  /connection terminated/i,
  /timeout exceeded when trying to connect/i,
  /query read timeout/i,
  /connection (?:error|ended)/i,
  /client has encountered a connection error/i,
  /cannot use a pool after calling end/i,
];

interface ErrorShape {
  code?: unknown;
  message?: unknown;
  severity?: unknown;
  cause?: unknown;
  errors?: unknown;
}

function matches(err: unknown, depth: number): boolean {
  if (!err || typeof err !== 'object' || depth > 4) return false;
  const e = err as ErrorShape;
  const code = typeof e.code === 'string' ? e.code : '';
  if (NETWORK_CODES.has(code)) return true;
  if (/^08[0-9A-Z]{3}$/.test(code) || UNAVAILABLE_SQLSTATES.has(code)) return true;
  // SQLite: the file is locked by another writer for longer than busy_timeout, or cannot be written
  // right now (read-only file or mount, disk full, I/O error; extended codes included): the node answers
  // 503 and recovers by itself once the file is writable again.
  if (/^SQLITE_(BUSY|LOCKED|READONLY|IOERR|FULL|CANTOPEN)(_|$)/.test(code)) return true;
  if (typeof e.message === 'string' && e.severity === undefined && UNAVAILABLE_MESSAGES.some((re) => re.test(e.message as string))) return true;
  // AggregateError (dual-stack connect) and wrapped causes.
  if (Array.isArray(e.errors) && e.errors.some((x) => matches(x, depth + 1))) return true;
  return matches(e.cause, depth + 1);
}

/**
 * The 503 for a database that cannot be reached (connection refused or lost, pool exhausted past
 * connectionTimeoutMs, statement timeout, server shutting down), or null for any other error.
 */
export function storeUnavailable(err: unknown): WardenError | null {
  if (err instanceof WardenError) return null;
  if (!matches(err, 0)) return null;
  return new WardenError(503, 'The database is not reachable; try again shortly', { cause: err });
}

/**
 * True for failures below SQL (socket, timeout): the connection they happened on cannot be trusted
 * with another query. Server error responses (they carry a severity) leave the connection usable.
 */
export function isConnectionLevelError(err: unknown): boolean {
  if (!err || typeof err !== 'object') return false;
  const e = err as ErrorShape;
  if (e.severity !== undefined) return false;
  return matches(err, 0) || (typeof e.message === 'string' && /timeout/i.test(e.message));
}

/**
 * Every database failure the API answers with a catalogue code instead of a 500: unreachable (503),
 * and text PostgreSQL cannot store (U+0000, SQLSTATE 22021/22P05: 600, as SQLite would have simply
 * found nothing for it). Null for anything else.
 */
export function storeError(err: unknown): WardenError | null {
  const unavailable = storeUnavailable(err);
  if (unavailable) return unavailable;
  const code = (err as ErrorShape | null)?.code;
  if (code === '22021' || code === '22P05') return new WardenError(600, 'Input contains a character that cannot be stored (U+0000)', { cause: err });
  return null;
}
