import { describe, expect, it } from 'vitest';
import { PgProjectionLock } from '../support/everything.js';
import { freshPostgresSchema, postgresSkipReason } from '../support/adapters.js';

describe.skipIf(postgresSkipReason !== undefined)('PostgreSQL projection lock', () => {
  it('has one holder; a broken holder connection loses it at once and frees it for the next', async () => {
    const db = await freshPostgresSchema(2);
    try {
      const first = new PgProjectionLock(db.pool.options, db.schema);
      const second = new PgProjectionLock(db.pool.options, db.schema);
      const held = await first.tryAcquire();
      expect(held).toBeDefined();
      expect(await second.tryAcquire()).toBeUndefined();

      // What a kill -9 of the holder does to its session: the server ends it.
      const { rows } = await db.pool.query<{ pid: number }>(
        `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objid = (hashtext($1)::bigint & 4294967295)::oid`,
        [`${db.schema}.projection.smtp-config`],
      );
      expect(rows).toHaveLength(1);
      await db.pool.query('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
      await held!.lost;

      const next = await second.tryAcquire();
      expect(next).toBeDefined();
      await next!.release();
      const again = await first.tryAcquire();
      expect(again).toBeDefined();
      await again!.release();
    } finally {
      await db.drop();
    }
  });

  it('is one lock per schema: replicas of another installation do not contend', async () => {
    const a = await freshPostgresSchema(1);
    const b = await freshPostgresSchema(1);
    try {
      const inA = await new PgProjectionLock(a.pool.options, a.schema).tryAcquire();
      const inB = await new PgProjectionLock(b.pool.options, b.schema).tryAcquire();
      expect([inA !== undefined, inB !== undefined]).toEqual([true, true]);
      await inA!.release();
      await inB!.release();
    } finally {
      await a.drop();
      await b.drop();
    }
  });
});
