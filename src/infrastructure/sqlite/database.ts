import { closeSync, existsSync, fsyncSync, openSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import Database from 'better-sqlite3';
import { DomainError, ErrorKind } from '../../domain/index.js';
import { storeUnavailable } from '../sql/store-errors.js';
import { migrate, type Migration } from './migrate.js';
import { StoreFileError } from './store-file-error.js';

export { StoreFileError };

export type SqliteDatabase = Database.Database;

export interface OpenOptions {
  /** FULL for the events (a 200 survives a power cut); NORMAL is enough for what can be rebuilt. */
  readonly synchronous: 'FULL' | 'NORMAL';
  readonly migrations: readonly Migration[];
  /** What to tell an operator to do when the file is damaged. */
  readonly whenDamaged: string;
  /** How long a write waits for another process's write to finish (ms). */
  readonly busyTimeoutMs?: number;
}

const sqliteCode = (error: unknown): string | undefined =>
  error instanceof Database.SqliteError ? error.code : undefined;

/** Corruption, or a file that is not a database at all. */
export const isDamage = (error: unknown): boolean => /^SQLITE_(CORRUPT|NOTADB)/.test(sqliteCode(error) ?? '');

/** The disk or the file system refused: full, I/O error, read-only, locked too long. Retryable later. */
export const isStorageFault = (error: unknown): boolean =>
  /^SQLITE_(FULL|IOERR|READONLY|BUSY|LOCKED|CANTOPEN|PROTOCOL|NOMEM)/.test(sqliteCode(error) ?? '');

/**
 * Turns what the SQLite file reported into an error the use cases understand: a full disk or an
 * I/O error is Unavailable (503 / code 14, nothing was acknowledged), damage names the file, and,
 * given `whenDamaged`, what its operator does about it (the file's path and the remedy are for the
 * log and a start that stops on it; a client is told the kind).
 */
export const storageError = (error: unknown, file: string, whenDamaged?: string): unknown => {
  if (isStorageFault(error)) return storeUnavailable(sqliteCode(error) ?? 'I/O error', error);
  if (isDamage(error)) {
    const message = whenDamaged === undefined ? `the database file ${basename(file)} is damaged` : `${file} is damaged (${sqliteCode(error)}). ${whenDamaged}`;
    return new DomainError(ErrorKind.Internal, 'STORE-dmg-2k8v', 'Errors.Store.Damaged', message, [], {
      cause: error,
      clientMessage: "the server's store is damaged; its operator must repair or restore it",
    });
  }
  return error;
};

/** Makes a rename or a new file in `dir` survive a power cut. */
export const fsyncDirectory = (dir: string): void => {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
};

const configure = (db: SqliteDatabase, options: OpenOptions): void => {
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${options.synchronous}`);
  db.pragma(`busy_timeout = ${options.busyTimeoutMs ?? 5_000}`);
  db.pragma('foreign_keys = ON');
  db.defaultSafeIntegers(true);
};

/**
 * Opens a database file, creating it when it does not exist, and runs its migrations.
 *
 * A new file is made under a temporary name and renamed into place once its schema is written, so
 * an existing file that is empty can only mean it was truncated: that, a file that is not a
 * database and a schema from a newer version all stop here with a message naming the file.
 */
export const openDatabase = (file: string, options: OpenOptions): SqliteDatabase => {
  const damaged = (what: string, cause?: unknown) =>
    new StoreFileError(file, `${file} ${what}. ${options.whenDamaged}`, { damaged: true, ...(cause === undefined ? {} : { cause }) });
  if (!existsSync(file)) {
    const fresh = `${file}.new`;
    for (const leftover of [fresh, `${fresh}-wal`, `${fresh}-shm`, `${fresh}-journal`]) rmSync(leftover, { force: true });
    const db = new Database(fresh);
    try {
      configure(db, options);
      migrate(db, options.migrations, fresh);
      db.pragma('journal_mode = DELETE'); // folds the WAL into the file, so that the rename moves everything
    } finally {
      db.close();
    }
    renameSync(fresh, file);
    fsyncDirectory(dirname(file));
  } else if (statSync(file).size === 0 && !existsSync(`${file}-wal`)) {
    throw damaged('exists but is empty (0 bytes): it was truncated or replaced');
  }
  let db: SqliteDatabase | undefined;
  try {
    db = new Database(file, { fileMustExist: true });
    configure(db, options);
    migrate(db, options.migrations, file);
    return db;
  } catch (error) {
    db?.close();
    if (error instanceof StoreFileError) throw error;
    if (isDamage(error)) throw damaged(`is damaged (${sqliteCode(error)})`, error);
    throw new StoreFileError(file, `cannot open ${file}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
};
