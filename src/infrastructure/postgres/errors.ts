import { storeUnavailable } from '../sql/store-errors.js';

const codeOf = (error: unknown): string => (typeof error === 'object' && error !== null && 'code' in error ? String((error as { code: unknown }).code) : '');

/**
 * The database cannot be reached or cannot take the write: connection errors (class 08), too little
 * disk or memory (class 53), the server shutting down (57P0x), a socket that failed, or the pool's
 * own "connection terminated".
 */
export const isPgUnavailable = (error: unknown): boolean => {
  const code = codeOf(error);
  if (/^(08|53|57P0)/.test(code) || ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH'].includes(code)) return true;
  return error instanceof Error && /Connection terminated|connection timeout|Client has encountered a connection error/i.test(error.message);
};

/** A database error as the use cases understand it: Unavailable when the database could not take it. */
export const pgStoreError = (error: unknown): unknown => (isPgUnavailable(error) ? storeUnavailable(codeOf(error) || 'database unreachable', error) : error);
