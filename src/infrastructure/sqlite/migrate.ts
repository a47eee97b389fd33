import { createHash } from 'node:crypto';
import type Database from 'better-sqlite3';
import { StoreFileError } from './store-file-error.js';

/** One numbered step of a database's schema. Never edit one that has been released: add another. */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

const checksum = (m: Migration): string => createHash('sha256').update(m.sql).digest('hex');

/**
 * Brings the file's schema up to date in one transaction, recording each step with its checksum in
 * `schema_migrations`. A file with a step this code does not know (written by a newer version), or
 * whose recorded step differs from ours, is refused rather than guessed at.
 */
export const migrate = (db: Database.Database, migrations: readonly Migration[], file: string): void => {
  db.transaction(() => {
    db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version INTEGER PRIMARY KEY,
      name TEXT NOT NULL,
      checksum TEXT NOT NULL,
      applied_at TEXT NOT NULL
    ) STRICT`);
    const applied = db.prepare('SELECT version, name, checksum FROM schema_migrations ORDER BY version').all() as {
      version: bigint;
      name: string;
      checksum: string;
    }[];
    const known = new Map(migrations.map((m) => [m.version, m]));
    for (const row of applied) {
      const mine = known.get(Number(row.version));
      if (!mine) {
        throw new StoreFileError(file, `${file} has schema step ${row.version} (${row.name}), which this version does not know: it was written by a newer version; run that version`);
      }
      if (checksum(mine) !== row.checksum) {
        throw new StoreFileError(file, `${file}: schema step ${row.version} (${row.name}) differs from this version's; the file was changed by hand or by another program`);
      }
    }
    const done = new Set(applied.map((r) => Number(r.version)));
    const insert = db.prepare('INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (?, ?, ?, ?)');
    for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
      if (done.has(m.version)) continue;
      db.exec(m.sql);
      insert.run(m.version, m.name, checksum(m), new Date().toISOString());
    }
  }).immediate();
};
