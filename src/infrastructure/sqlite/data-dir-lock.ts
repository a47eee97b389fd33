import { join } from 'node:path';
import Database from 'better-sqlite3';
import { makeDirectory } from '../system/make-directory.js';

export class DataDirInUseError extends Error {
  override readonly name = 'DataDirInUseError';
}

/**
 * One server per data directory. The lock is SQLite's own exclusive lock on `server.lock`, held
 * for as long as the process keeps the file open: the kernel drops it when the process dies, however
 * it dies (kill -9, as process 1 of a container), and it holds across PID namespaces that share the
 * volume, because it belongs to the file, not to a process id written into it. The command-line
 * tools do not take it (they write through the event store's own transactions), except
 * `projection rebuild` while it replaces a damaged read-model.db, which no server may have open.
 */
export class DataDirLock {
  static readonly FILE = 'server.lock';

  private constructor(private readonly db: Database.Database) {}

  static acquire(dir: string): DataDirLock {
    makeDirectory(dir);
    const file = join(dir, DataDirLock.FILE);
    const db = new Database(file, { timeout: 0 });
    try {
      db.pragma('journal_mode = MEMORY'); // nothing is ever written: no journal file beside it
      db.pragma('locking_mode = EXCLUSIVE');
      // In exclusive locking mode the lock taken here is kept until the connection closes.
      db.exec('BEGIN EXCLUSIVE; COMMIT');
      return new DataDirLock(db);
    } catch (error) {
      db.close();
      if (error instanceof Database.SqliteError && error.code.startsWith('SQLITE_BUSY')) {
        throw new DataDirInUseError(
          `the data directory ${dir} is in use by another server, or by \`smtp-config projection rebuild\` replacing its damaged read-model.db (it holds ${file}); ` +
            'stop that server first, or wait for the rebuild to finish, or set DATA_DIR to another directory',
        );
      }
      throw error;
    }
  }

  release(): void {
    if (this.db.open) this.db.close();
  }
}
