import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorIds, migratePostgres, PostgresProjectionStore } from '../support/everything.js';
import { freshPostgresSchema, postgresSkipReason, testDatabaseUrl } from '../support/adapters.js';

/**
 * A session the server ends (a restart, a failover, pg_terminate_backend) while a client checked out
 * of the pool is in the middle of a transaction: the query fails, and the 'error' the client emits
 * when its socket then closes must not be an uncaught exception, which would end the server.
 */
describe.skipIf(postgresSkipReason !== undefined)('a pool client whose session the server ends in the middle of a transaction', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c().catch(() => undefined);
  });

  /** A schema, and a pool of its own whose sessions carry an application_name nothing else uses. */
  const setUp = async () => {
    const db = await freshPostgresSchema(2);
    cleanup.push(() => db.drop());
    const app = `ended_${db.schema}`;
    const url = new URL(testDatabaseUrl);
    url.searchParams.set('application_name', app);
    const pool = new pg.Pool({ connectionString: url.toString(), max: 2 });
    pool.on('error', () => undefined); // an idle client's failure (the server's own pool logs it)
    cleanup.push(() => pool.end());
    const uncaught: unknown[] = [];
    const monitor = (error: unknown) => uncaught.push(error);
    process.on('uncaughtExceptionMonitor', monitor);
    cleanup.push(async () => void process.off('uncaughtExceptionMonitor', monitor));
    /** Ends the pool's session that waits for a lock, once there is one. */
    const endSessionWaitingForLock = async () => {
      for (let tries = 0; ; tries++) {
        const { rows } = await db.pool.query<{ ended: boolean }>(
          `SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`,
          [app],
        );
        if (rows.some((r) => r.ended)) return;
        if (tries > 500) throw new Error('no session of the pool waited for the lock');
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    /** Waits until the pool has let go of every client (the ended one's socket has closed by then). */
    const poolEmptied = async () => {
      for (let tries = 0; pool.totalCount > 0; tries++) {
        if (tries > 500) throw new Error(`the pool still holds ${pool.totalCount} clients`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    return { db, pool, uncaught, endSessionWaitingForLock, poolEmptied };
  };

  it('a read-model batch fails as Unavailable, the process lives on, and the next batch goes in', async () => {
    const { db, pool, uncaught, endSessionWaitingForLock, poolEmptied } = await setUp();
    const store = await PostgresProjectionStore.open(pool, { schema: db.schema });
    // The batch waits for the checkpoint row, which the test holds: it is in its transaction when its session ends.
    const holder = await db.pool.connect();
    cleanup.push(async () => holder.release());
    await holder.query('BEGIN');
    await holder.query(`SELECT 1 FROM ${db.schema}.projection_checkpoints FOR UPDATE`);
    const batch = store.saveCheckpoint({ commit: 5n, prepare: 5n }).then(
      () => undefined,
      (error: unknown) => error,
    );
    await endSessionWaitingForLock();
    expect(await batch).toMatchObject({ kind: 'Unavailable', id: ErrorIds.StoreUnavailable });
    await holder.query('ROLLBACK');
    await poolEmptied();
    expect(uncaught).toEqual([]);

    await store.saveCheckpoint({ commit: 7n, prepare: 7n });
    expect(await store.checkpoint()).toEqual({ commit: 7n, prepare: 7n });
  });

  it('a migration fails with the connection error, the process lives on, and the next one migrates', async () => {
    const { db, pool, uncaught, endSessionWaitingForLock, poolEmptied } = await setUp();
    // The migration's step waits, inside its transaction, for a lock the test holds.
    const holder = await db.pool.connect();
    cleanup.push(async () => holder.release());
    const stepLock = `${db.schema}.ended-step`;
    await holder.query('SELECT pg_advisory_lock(hashtext($1))', [stepLock]);
    const step = { version: 1, name: 'one table', sql: `CREATE TABLE \${schema}.ended_test (id int); SELECT pg_advisory_xact_lock(hashtext('${stepLock}'))` };
    const migrating = migratePostgres(pool, db.schema, 'ended-test', [step]).then(
      () => undefined,
      (error: unknown) => error,
    );
    await endSessionWaitingForLock();
    expect(await migrating).toMatchObject({ code: '57P01' });
    await holder.query('SELECT pg_advisory_unlock(hashtext($1))', [stepLock]);
    await poolEmptied();
    expect(uncaught).toEqual([]);

    await migratePostgres(pool, db.schema, 'ended-test', [step]);
    const { rows } = await pool.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${db.schema}.ended_test`);
    expect(rows).toEqual([{ n: '0' }]);
  });
});
