import { ErrorIds, PortErrors, type DomainError } from '../../domain/index.js';
import { storeUnavailable } from '../sql/store-errors.js';

const codeOf = (error: unknown): string => (typeof error === 'object' && error !== null && 'code' in error ? String((error as { code: unknown }).code) : '');

/**
 * The database cannot be reached or cannot take the write: connection errors (class 08), too little
 * disk or memory (class 53), the server shutting down (57P0x), a socket that failed, or the pool's
 * own "connection terminated" and connect timeouts (the client's, and the pool's wait for a client).
 */
export const isPgUnavailable = (error: unknown): boolean => {
  const code = codeOf(error);
  if (/^(08|53|57P0)/.test(code) || ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH'].includes(code)) return true;
  return error instanceof Error && /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(error.message);
};

/** A database error as the use cases understand it: Unavailable when the database could not take it. */
export const pgStoreError = (error: unknown): unknown => (isPgUnavailable(error) ? storeUnavailable(codeOf(error) || 'database unreachable', error) : error);

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
