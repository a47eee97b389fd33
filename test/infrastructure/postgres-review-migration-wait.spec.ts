import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { openStores } from '../../src/infrastructure/bootstrap/open-stores.js';
import { loadConfig } from '../support/everything.js';
import { freshPostgresSchema, postgresSkipReason, testDatabaseUrl } from '../support/adapters.js';

/**
 * A replica that starts while another one migrates the schema waits for the migration lock; a wait
 * longer than DATABASE_QUERY_TIMEOUT_MS ends the start. The message must say that, not that
 * PostgreSQL "cannot be reached" (it answered) and to check that it runs.
 */
describe.skipIf(postgresSkipReason !== undefined)('a start that waits for another replica’s migration longer than DATABASE_QUERY_TIMEOUT_MS', () => {
  it('fails naming the timeout and the migration, not an unreachable database', { timeout: 30_000 }, async () => {
    const db = await freshPostgresSchema(2);
    const dataDir = mkdtempSync(join(tmpdir(), 'smtp-pg-review-migrate-'));
    const migrating = new pg.Client({ connectionString: testDatabaseUrl });
    await migrating.connect();
    try {
      await migrating.query('SELECT pg_advisory_lock(hashtext($1))', [`${db.schema}.migrate`]);
      const config = loadConfig({ DATABASE_URL: testDatabaseUrl, DATABASE_SCHEMA: db.schema, DATA_DIR: dataDir, DATABASE_QUERY_TIMEOUT_MS: '500' });
      const failure = await openStores(config, dataDir, pino({ level: 'silent' }), 'tool').then(
        async (stores) => {
          await stores.close();
          return 'started';
        },
        (e: unknown) => (e instanceof Error ? e.message : String(e)),
      );
      expect(failure).not.toBe('started');
      expect(failure).not.toMatch(/cannot reach/);
      expect(failure).toMatch(/did not finish a statement within DATABASE_QUERY_TIMEOUT_MS \(500 ms\)/);
      expect(failure).toMatch(new RegExp(`another replica may be migrating the schema ${db.schema}`));
    } finally {
      await migrating.end();
      rmSync(dataDir, { recursive: true, force: true });
      await db.drop();
    }
  });
});
