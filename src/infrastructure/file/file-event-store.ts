import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, ftruncateSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { RecordedEvent } from '../../application/index.js';
import { InMemoryEventStore } from '../in-memory/in-memory-event-store.js';

interface StoredLine {
  readonly id: string;
  readonly streamId: string;
  readonly revision: string;
  readonly position: string;
  readonly type: string;
  readonly data: unknown;
  readonly metadata: RecordedEvent['metadata'];
}

/**
 * The embedded default store until the PostgreSQL one lands: the in-memory store's indexes, made
 * durable by an append-only JSON-lines log in the data directory. Every append is written and
 * fsync'ed before its events become visible. On open, a torn last line (a crash mid-write) is cut
 * off. A lock file keeps a second writer away from the same directory.
 */
export class FileEventStore extends InMemoryEventStore {
  private constructor(
    private readonly fd: number,
    private readonly lockPath: string | undefined,
  ) {
    super();
  }

  static readonly FILE = 'events.jsonl';

  /** Opens (creating it if needed) the log in `dir`. `readOnly` skips the lock, for tools that only read. */
  static async open(dir: string, options: { readOnly?: boolean } = {}): Promise<FileEventStore> {
    mkdirSync(dir, { recursive: true });
    const path = join(dir, FileEventStore.FILE);
    const lockPath = options.readOnly ? undefined : acquireLock(join(dir, 'events.lock'));
    try {
      const fd = openSync(path, options.readOnly ? (existsSync(path) ? 'r' : 'a+') : 'a+');
      const store = new FileEventStore(fd, lockPath);
      store.load(path, !options.readOnly);
      return store;
    } catch (error) {
      if (lockPath) unlinkSync(lockPath);
      throw error;
    }
  }

  private load(path: string, repair: boolean): void {
    const text = readFileSync(path, 'utf8');
    const end = text.lastIndexOf('\n') + 1;
    if (end < text.length && repair) ftruncateSync(this.fd, Buffer.byteLength(text.slice(0, end)));
    const records: RecordedEvent[] = [];
    for (const line of text.slice(0, end).split('\n')) {
      if (line === '') continue;
      const s = JSON.parse(line) as StoredLine;
      const p = BigInt(s.position);
      records.push({ id: s.id, streamId: s.streamId, revision: BigInt(s.revision), position: { commit: p, prepare: p }, type: s.type, data: s.data, metadata: s.metadata });
    }
    this.index(records);
  }

  protected override persist(records: readonly RecordedEvent[]): void {
    if (this.lockPath === undefined) throw new Error('this event store was opened read-only');
    const text = records
      .map((r) =>
        JSON.stringify({
          id: r.id,
          streamId: r.streamId,
          revision: r.revision.toString(),
          position: r.position.commit.toString(),
          type: r.type,
          data: r.data,
          metadata: r.metadata,
        } satisfies StoredLine),
      )
      .join('\n');
    writeSync(this.fd, `${text}\n`);
    fsyncSync(this.fd);
  }

  override async close(): Promise<void> {
    await super.close();
    closeSync(this.fd);
    if (this.lockPath) unlinkSync(this.lockPath);
  }
}

const acquireLock = (lockPath: string): string => {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(lockPath, String(process.pid), { flag: 'wx' });
      return lockPath;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const pid = Number(readFileSync(lockPath, 'utf8'));
      if (Number.isInteger(pid) && pid > 0 && (pid === process.pid || isAlive(pid))) {
        throw new Error(`the data directory is in use by process ${pid} (${lockPath})`);
      }
      unlinkSync(lockPath); // left behind by a process that is gone
    }
  }
  throw new Error(`could not lock ${lockPath}`);
};

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
};
