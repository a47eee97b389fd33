import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { openStores } from '../../src/infrastructure/bootstrap/open-stores.js';
import { pgStoreError } from '../../src/infrastructure/postgres/errors.js';
import { DomainError, ErrorIds, ErrorKind, isDomainError, loadConfig } from '../support/everything.js';
import { freshPostgresSchema, postgresSkipReason, testDatabaseUrl } from '../support/adapters.js';
import { testMetadata } from '../support/fixtures.js';

const outcome = (p: Promise<unknown>) =>
  p.then(
    () => 'ok' as const,
    (e: unknown) => (isDomainError(e) ? e.id : `not a domain error: ${String(e)}`),
  );

/** An error as node-postgres raises it for a server's ErrorResponse: its SQLSTATE in `code`. */
const pgError = (code: string, message: string) => Object.assign(new Error(message), { code, severity: 'ERROR' });

describe('a statement PostgreSQL cancels', () => {
  it.each([
    ['57014', 'canceling statement due to statement timeout', /PostgreSQL canceled the statement, SQLSTATE 57014/],
    ['55P03', 'canceling statement due to lock timeout', /PostgreSQL gave up waiting for a lock, SQLSTATE 55P03/],
  ])('(%s, %s) is Unavailable: it was rolled back, and a retry can succeed', (code, message, reason) => {
    const error = pgStoreError(pgError(code, message));
    expect(error).toBeInstanceOf(DomainError);
    expect(error).toMatchObject({ kind: ErrorKind.Unavailable, id: ErrorIds.StoreUnavailable });
    expect((error as DomainError).message).toMatch(reason);
  });
});

/**
 * Another session holds the append lock (a long append of another replica, a stuck transaction): an
 * append waits for it. DATABASE_QUERY_TIMEOUT_MS must end that wait on the server too, not only in
 * the client: else the request is answered 503 "nothing was saved", and the statement, still
 * waiting in PostgreSQL, commits the moment the lock is free.
 */
describe.skipIf(postgresSkipReason !== undefined)('an append that waits longer than DATABASE_QUERY_TIMEOUT_MS', () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  const open = async (env: Record<string, string>) => {
    const db = await freshPostgresSchema(2);
    cleanup.push(() => db.drop());
    const dataDir = mkdtempSync(join(tmpdir(), 'smtp-pg-review-timeout-'));
    cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const config = loadConfig({ DATABASE_URL: testDatabaseUrl, DATABASE_SCHEMA: db.schema, DATA_DIR: dataDir, ...env });
    const stores = await openStores(config, dataDir, pino({ level: 'silent' }), 'tool');
    cleanup.push(() => stores.close());
    const holder = new pg.Client({ connectionString: testDatabaseUrl });
    await holder.connect();
    cleanup.push(() => holder.end());
    const holdAppendLock = async () => {
      await holder.query('BEGIN');
      await holder.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`${db.schema}.append`]);
      return () => holder.query('COMMIT');
    };
    const append = (stream: string) =>
      stores.events.appendToStream(stream, [{ id: randomUUID(), type: 'test.happened', data: {}, metadata: testMetadata('timeout') }], 'no_stream');
    return { stores, holdAppendLock, append, db, config };
  };

  it('is answered Unavailable and is not saved, not even once the lock is free', { timeout: 30_000 }, async () => {
    const { stores, holdAppendLock, append } = await open({ DATABASE_QUERY_TIMEOUT_MS: '600' });
    expect(await outcome(append('instance-before'))).toBe('ok');
    const release = await holdAppendLock();
    const started = Date.now();
    const answer = await outcome(append('instance-waiting'));
    const tookMs = Date.now() - started;
    await new Promise((r) => setTimeout(r, 1_500));
    await release();
    // A statement that was still waiting in PostgreSQL would go in now.
    await new Promise((r) => setTimeout(r, 1_000));
    expect(answer).toBe(ErrorIds.StoreUnavailable);
    expect(tookMs).toBeLessThan(5_000);
    expect((await stores.events.readStream('instance-waiting')).events).toHaveLength(0);
    // The store works again at once.
    expect(await outcome(append('instance-waiting'))).toBe('ok');
  });

  it('is Unavailable when the operator set a lock_timeout of their own in DATABASE_URL', { timeout: 30_000 }, async () => {
    const url = new URL(testDatabaseUrl);
    url.searchParams.set('options', '-c lock_timeout=300');
    const { stores, holdAppendLock, append } = await open({ DATABASE_URL: url.toString(), DATABASE_QUERY_TIMEOUT_MS: '20000' });
    const release = await holdAppendLock();
    const started = Date.now();
    const answer = await outcome(append('instance-locked'));
    const tookMs = Date.now() - started;
    await release();
    expect(answer).toBe(ErrorIds.StoreUnavailable);
    expect(tookMs).toBeLessThan(10_000);
    expect((await stores.events.readStream('instance-locked')).events).toHaveLength(0);
  });
});
