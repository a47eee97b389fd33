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
 * The lock holder's read-model batch is a transaction that locks the checkpoint row. A holder that
 * stops without dying inside it (a paused VM, SIGSTOP) lost the projection lock to another replica
 * (its lock session times out), but its transaction kept the row: the new holder's runner waited
 * for it, was canceled after DATABASE_QUERY_TIMEOUT_MS, and waited again, for as long as the first
 * one was stopped, and the read model stood still. A session of the server's pool that sits idle
 * inside a transaction is ended by PostgreSQL, which rolls it back.
 */
describe.skipIf(postgresSkipReason !== undefined)('a transaction of the server left idle by a stopped process', () => {
  it('is ended by PostgreSQL after DATABASE_QUERY_TIMEOUT_MS (at most 10 s), freeing the checkpoint row', { timeout: 30_000 }, async () => {
    const db = await freshPostgresSchema(2);
    const dataDir = mkdtempSync(join(tmpdir(), 'smtp-pg-review-idle-'));
    const other = new pg.Client({ connectionString: testDatabaseUrl });
    await other.connect();
    try {
      const config = loadConfig({ DATABASE_URL: testDatabaseUrl, DATABASE_SCHEMA: db.schema, DATA_DIR: dataDir, DATABASE_QUERY_TIMEOUT_MS: '500' });
      let cleanupClient = () => undefined as void;
      const stores = await openStores(config, dataDir, pino({ level: 'silent' }), 'tool');
      try {
        const pool = (stores.readModel as unknown as { pool: pg.Pool }).pool;
        const client = await pool.connect();
        cleanupClient = () => client.release(true);
        const ended = new Promise<string>((resolve) => client.on('error', (e) => resolve(e.message)));
        await client.query('BEGIN');
        await client.query(`SELECT 1 FROM ${db.schema}.projection_checkpoints FOR UPDATE`);
        // The process stops here, for longer than the timeout.
        const outcome = await Promise.race([ended, new Promise<string>((r) => setTimeout(() => r('still open'), 3_000))]);
        expect(outcome).toMatch(/idle-in-transaction timeout/);
        const { rows } = await other.query(`SELECT projection FROM ${db.schema}.projection_checkpoints FOR UPDATE NOWAIT`);
        expect(rows.length).toBeGreaterThan(0);
      } finally {
        cleanupClient();
        await stores.close();
      }
    } finally {
      await other.end();
      rmSync(dataDir, { recursive: true, force: true });
      await db.drop();
    }
  });
});
