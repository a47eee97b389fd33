import { createHash } from 'node:crypto';
import type pg from 'pg';
import { StoreFileError } from '../sqlite/store-file-error.js';
import { withPoolClient } from './pool-client.js';

/** One numbered step of a component's schema. `${schema}` in the SQL is the configured schema. Never edit a released one. */
export interface PgMigration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

/** The schema name, checked: it is written into SQL, so only plain lower-case identifiers are accepted. */
export const schemaIdentifier = (schema: string): string => {
  if (!IDENTIFIER.test(schema)) throw new TypeError(`the schema name ${JSON.stringify(schema)} must be a lower-case SQL identifier (a-z, 0-9, _)`);
  return schema;
};

const checksum = (m: PgMigration): string => createHash('sha256').update(m.sql).digest('hex');

/**
 * Brings one component's tables (`events` or `read-model`) in `schema` up to date. Runs under a
 * session advisory lock, so replicas starting together migrate once and the others wait and then
 * find nothing to do; each step is applied in a transaction and recorded with its checksum.
 */
export const migratePostgres = async (pool: pg.Pool, schema: string, component: string, migrations: readonly PgMigration[]): Promise<void> => {
  const s = schemaIdentifier(schema);
  await withPoolClient(pool, async (client) => {
    await client.query('SELECT pg_advisory_lock(hashtext($1))', [migrationLockKey(s)]);
    try {
      await client.query('BEGIN');
      await applyMigrations(client, s, component, migrations);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      await client.query('SELECT pg_advisory_unlock(hashtext($1))', [migrationLockKey(s)]).catch(() => undefined);
    }
  });
};

/** The advisory lock (`hashtext` of this) under which `schema` is migrated. */
export const migrationLockKey = (schema: string): string => `${schemaIdentifier(schema)}.migrate`;

/**
 * migratePostgres's work, in the caller's transaction on `client`, which holds the migration lock
 * (migrationLockKey; a transaction's own `pg_advisory_xact_lock` will do): the steps not recorded
 * in `schema_migrations` are applied and recorded, the recorded ones checked.
 */
export const applyMigrations = async (client: pg.ClientBase, schema: string, component: string, migrations: readonly PgMigration[]): Promise<void> => {
  const s = schemaIdentifier(schema);
  await client.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
  await client.query(`CREATE TABLE IF NOT EXISTS ${s}.schema_migrations (
    component text NOT NULL,
    version integer NOT NULL,
    name text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (component, version))`);
  const { rows } = await client.query<{ version: number; name: string; checksum: string }>(
    `SELECT version, name, checksum FROM ${s}.schema_migrations WHERE component = $1 ORDER BY version`,
    [component],
  );
  const known = new Map(migrations.map((m) => [m.version, m]));
  const where = `schema ${s} (${component})`;
  for (const row of rows) {
    const mine = known.get(row.version);
    if (!mine) throw new StoreFileError(where, `${where} has schema step ${row.version} (${row.name}), which this version does not know: it was written by a newer version; run that version`);
    if (checksum(mine) !== row.checksum) throw new StoreFileError(where, `${where}: schema step ${row.version} (${row.name}) differs from this version's; it was changed by hand or by another program`);
  }
  const done = new Set(rows.map((r) => r.version));
  for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
    if (done.has(m.version)) continue;
    await client.query(m.sql.replaceAll('${schema}', s));
    await client.query(`INSERT INTO ${s}.schema_migrations (component, version, name, checksum) VALUES ($1, $2, $3, $4)`, [component, m.version, m.name, checksum(m)]);
  }
};
