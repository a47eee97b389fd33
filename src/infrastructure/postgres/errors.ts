import { ErrorIds, isWellFormedUnicode, PortErrors, type DomainError } from '../../domain/index.js';
import { storeUnavailable } from '../sql/store-errors.js';

/** The SQLSTATE (or the driver's error code) of `error`, or '' when it has none. */
export const codeOf = (error: unknown): string => (typeof error === 'object' && error !== null && 'code' in error ? String((error as { code: unknown }).code) : '');

/**
 * The database cannot be reached or cannot take the write: connection errors (class 08), too little
 * disk or memory (class 53), an I/O error on its files (58030), the server shutting down (57P0x), a
 * socket that failed, or the pool's own "connection terminated" and connect timeouts (the client's,
 * and the pool's wait for a client), a statement PostgreSQL canceled (57014: its statement_timeout,
 * which the server sets to DATABASE_QUERY_TIMEOUT_MS, or an operator's pg_cancel_backend; 55P03: a
 * lock_timeout), which it rolled back, and a statement not answered within the client's read
 * timeout.
 */
export const isPgUnavailable = (error: unknown): boolean => {
  const code = codeOf(error);
  if (/^(08|53|57P0)/.test(code) || code === '58030' || code === '57014' || code === '55P03' || ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH'].includes(code)) return true;
  return error instanceof Error && /Connection terminated|connection timeout|timeout exceeded when trying to connect|Query read timeout|Client has encountered a connection error/i.test(error.message);
};

/**
 * Why the database could not take it, in words an operator can act on: what failed, then after a
 * colon what to fix (the log's; a client is told what failed and to try again later). PostgreSQL's
 * own message stays in the cause: it names server paths, which are no business of a client's.
 */
export const pgUnavailableReason = (error: unknown): string => {
  const code = codeOf(error);
  switch (code) {
    case '53100':
      return "PostgreSQL is out of disk space, SQLSTATE 53100: free space on the database server's disk";
    case '53200':
      return 'PostgreSQL is out of memory, SQLSTATE 53200';
    case '53300':
      return 'PostgreSQL has no connection slot free, SQLSTATE 53300: raise max_connections or lower the pools (DATABASE_POOL_SIZE)';
    case '53400':
      return 'PostgreSQL refused it by a configured limit, SQLSTATE 53400';
    case '58030':
      return "PostgreSQL could not read or write its files, SQLSTATE 58030 (I/O error): check the database server's disk";
    case '57014':
      return 'PostgreSQL canceled the statement, SQLSTATE 57014: it ran longer than its statement_timeout (DATABASE_QUERY_TIMEOUT_MS) or an operator canceled it';
    case '55P03':
      return 'PostgreSQL gave up waiting for a lock, SQLSTATE 55P03 (lock_timeout)';
  }
  if (code.startsWith('53')) return `PostgreSQL is short of resources, SQLSTATE ${code}`;
  if (code.startsWith('57P0')) return `PostgreSQL is shutting down, restarting or not yet accepting connections, SQLSTATE ${code}`;
  if (code.startsWith('08')) return `the connection to PostgreSQL failed, SQLSTATE ${code}`;
  if (code) return `PostgreSQL cannot be reached, ${code}`;
  return 'the connection to PostgreSQL was lost or timed out';
};

/**
 * What an API client is told of {@link pgUnavailableReason}: what failed, without the remedy after
 * its colon (the operator's: settings such as DATABASE_POOL_SIZE, the database server's disk).
 */
const pgUnavailableClientReason = (reason: string): string => reason.split(': ')[0]!;

/** A database error as the use cases understand it: Unavailable when the database could not take it. */
export const pgStoreError = (error: unknown): unknown => {
  if (!isPgUnavailable(error)) return error;
  const reason = pgUnavailableReason(error);
  return storeUnavailable(reason, error, pgUnavailableClientReason(reason));
};

/**
 * A data exception (SQLSTATE class 22: a value the statement cannot take, such as a NUL in text,
 * 22021). It is about the values sent, not the database: a batched read that fails with one is
 * read again key by key (see ReadBatcher), so that one caller's key cannot fail the others'.
 */
export const isPgDataError = (error: unknown): boolean => codeOf(error).startsWith('22');

/**
 * Whether a caller's key (an id, a domain, a stream id) can be sent to PostgreSQL as text: its text
 * type refuses NUL (the query fails, 22021), and node-postgres sends a lone surrogate as U+FFFD
 * (the query would then find another key's row). Nothing with such a key is ever stored (appends
 * refuse it, see unstorableInJson), so a read by it is answered "not found" without a query.
 */
export const pgCanHoldKey = (key: string): boolean => !key.includes('\u0000') && isWellFormedUnicode(key);

/** A JSON escape, preceded by an even number of backslashes (so not itself escaped): NUL, or any surrogate (JSON.stringify writes a pair as it is and escapes only a lone one). */
const UNSTORABLE_ESCAPE = /(?<!\\)(?:\\\\)*\\u(0000|d[89a-f][0-9a-f]{2})/i;

/**
 * What in a request's JSON text (as JSON.stringify wrote it) PostgreSQL cannot store: its text and
 * json types refuse NUL (U+0000) and a lone surrogate. Undefined when there is nothing of the sort.
 */
export const unstorableInJson = (json: string): string | undefined => {
  const found = UNSTORABLE_ESCAPE.exec(json);
  if (!found) return undefined;
  return found[1] === '0000' ? 'the NUL character (U+0000)' : 'a lone UTF-16 surrogate';
};

/**
 * An append refused before it reached the database, alone: its events hold text PostgreSQL cannot
 * store. Had it gone into the group-commit transaction, it would have failed every append beside it.
 */
export const unstorableAppend = (streamId: string, what: string): DomainError =>
  PortErrors.invalidArgument(
    ErrorIds.StoreUnstorableText,
    [{ field: 'events', description: `contain ${what}, which PostgreSQL cannot store` }],
    `stream ${streamId}: an event contains ${what}, which PostgreSQL cannot store; nothing was appended`,
  );
