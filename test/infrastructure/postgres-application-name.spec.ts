import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { openStores } from '../../src/infrastructure/bootstrap/open-stores.js';
import { loadConfig } from '../support/everything.js';
import { freshPostgresSchema, postgresSkipReason, testDatabaseUrl } from '../support/adapters.js';

/**
 * An operator looking at pg_stat_activity (say, to see what a failover cut) can tell the server's
 * sessions from others: the pool's, the LISTEN connections' and the projection lock's all carry
 * the application_name `smtp-config`, unless DATABASE_URL (or PGAPPNAME) names another.
 */
describe.skipIf(postgresSkipReason !== undefined)("the server's PostgreSQL sessions", () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  const open = async (databaseUrl: string) => {
    const db = await freshPostgresSchema(2);
    cleanup.push(() => db.drop());
    const dataDir = mkdtempSync(join(tmpdir(), 'smtp-appname-'));
    cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const config = loadConfig({ DATABASE_URL: databaseUrl, DATABASE_SCHEMA: db.schema, DATA_DIR: dataDir });
    const stores = await openStores(config, dataDir, pino({ level: 'silent' }), 'server');
    cleanup.push(() => stores.close());
    const lease = await stores.shared!.lock.tryAcquire();
    expect(lease, 'the projection lock').toBeDefined();
    cleanup.push(() => lease!.release());
    await stores.readModel.checkpoint();
    // The sessions of this schema's server: its LISTEN connections, the lock's, and the pool's.
    const { rows } = await db.pool.query<{ app: string; what: string }>(
      `SELECT DISTINCT a.application_name AS app,
              CASE WHEN a.query LIKE 'LISTEN%' THEN 'listen' WHEN l.pid IS NOT NULL THEN 'lock' ELSE 'pool' END AS what
         FROM pg_stat_activity a
         LEFT JOIN pg_locks l ON l.pid = a.pid AND l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
              AND l.objid::bigint = (hashtext($2)::bigint & 4294967295)
        WHERE a.datname = current_database() AND a.pid <> pg_backend_pid() AND (a.query LIKE '%' || $1 || '%' OR l.pid IS NOT NULL)
        ORDER BY what`,
      [db.schema, `${db.schema}.projection.smtp-config`],
    );
    return rows;
  };

  it('are named smtp-config: the pool, the LISTEN connections and the projection lock', async () => {
    expect(await open(testDatabaseUrl)).toEqual([
      { app: 'smtp-config', what: 'listen' },
      { app: 'smtp-config', what: 'lock' },
      { app: 'smtp-config', what: 'pool' },
    ]);
  });

  it('carry the application_name DATABASE_URL gives instead', async () => {
    const url = new URL(testDatabaseUrl);
    url.searchParams.set('application_name', 'billing-smtp');
    expect(await open(url.toString())).toEqual([
      { app: 'billing-smtp', what: 'listen' },
      { app: 'billing-smtp', what: 'lock' },
      { app: 'billing-smtp', what: 'pool' },
    ]);
  });
});
