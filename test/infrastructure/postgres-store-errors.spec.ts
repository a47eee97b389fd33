import { describe, expect, it } from 'vitest';
import { DomainError, ErrorIds, ErrorKind } from '../support/everything.js';
import { pgStoreError } from '../../src/infrastructure/postgres/errors.js';

/** An error as node-postgres raises it for a server's ErrorResponse: its SQLSTATE in `code`. */
const pgError = (code: string, message = 'from the server') => Object.assign(new Error(message), { code, severity: 'ERROR' });

/**
 * How PostgreSQL's errors reach the use cases (no database needed): what the database could not
 * take is Unavailable (503 / code 14) with a reason a client and an operator can act on; the rest
 * goes on as it came (a bug, a constraint: the use cases decide).
 */
describe('pgStoreError', () => {
  it.each([
    ['53100', /PostgreSQL is out of disk space, SQLSTATE 53100: free space on the database server's disk/],
    ['53200', /PostgreSQL is out of memory, SQLSTATE 53200/],
    ['53300', /PostgreSQL has no connection slot free, SQLSTATE 53300: raise max_connections or lower the pools \(DATABASE_POOL_SIZE\)/],
    ['53400', /configured limit, SQLSTATE 53400/],
    ['53000', /PostgreSQL is short of resources, SQLSTATE 53000/],
    ['58030', /PostgreSQL could not read or write its files, SQLSTATE 58030 \(I\/O error\): check the database server's disk/],
    ['57P01', /PostgreSQL is shutting down, restarting or not yet accepting connections, SQLSTATE 57P01/],
    ['57P03', /SQLSTATE 57P03/],
    ['08006', /the connection to PostgreSQL failed, SQLSTATE 08006/],
    ['ECONNREFUSED', /PostgreSQL cannot be reached, ECONNREFUSED/],
  ])('makes %s Unavailable (STORE-unav-7q3m) naming the cause, and keeps the error as its cause', (code, reason) => {
    const cause = pgError(code, 'could not extend file "pg_tblspc/1/2/3": No space left on device');
    const error = pgStoreError(cause);
    expect(error).toBeInstanceOf(DomainError);
    expect(error).toMatchObject({ kind: ErrorKind.Unavailable, id: ErrorIds.StoreUnavailable, cause });
    expect((error as DomainError).message).toMatch(reason);
    expect((error as DomainError).message).toMatch(/nothing was saved, try again later$/);
    // The server's own words (paths on the database server) stay in the cause, for the log.
    expect((error as DomainError).message).not.toContain('pg_tblspc');
  });

  it.each([
    ['53100', 'PostgreSQL is out of disk space, SQLSTATE 53100', "the database server's disk"],
    ['53300', 'PostgreSQL has no connection slot free, SQLSTATE 53300', 'DATABASE_POOL_SIZE'],
    ['58030', 'PostgreSQL could not read or write its files, SQLSTATE 58030 (I/O error)', "the database server's disk"],
    ['57014', 'PostgreSQL canceled the statement, SQLSTATE 57014', 'DATABASE_QUERY_TIMEOUT_MS'],
  ])('tells an API client what %s is, and leaves the remedy with the server’s settings to the log', (code, what, operatorsOnly) => {
    const error = pgStoreError(pgError(code)) as DomainError;
    expect(error.message).toContain(operatorsOnly);
    expect(error.clientMessage).toBe(`the store cannot write now (${what}); nothing was saved, try again later`);
  });

  it('makes a connection the pool saw end Unavailable without a code', () => {
    const error = pgStoreError(new Error('Connection terminated unexpectedly'));
    expect(error).toMatchObject({ kind: ErrorKind.Unavailable, message: expect.stringMatching(/the connection to PostgreSQL was lost or timed out/) });
  });

  it.each([
    ['23505', 'a unique violation'],
    ['42P01', 'an undefined table'],
    ['22P05', 'untranslatable text'],
    // Also what a data file on a file system remounted read-only gives (EROFS): it cannot be told from a
    // real lack of privilege by its code, so it stays a 500 (see the README).
    ['42501', 'insufficient privilege'],
  ])('passes %s (%s) through unchanged', (code) => {
    const error = pgError(code);
    expect(pgStoreError(error)).toBe(error);
  });
});
