import { join } from 'node:path';
import type Database from 'better-sqlite3';
import {
  WrongExpectedRevisionError,
  type AppendResult,
  type EventStore,
  type ExpectedRevision,
  type GlobalPosition,
  type NewEvent,
  type ReadStreamResult,
  type SubscribeOptions,
  type SubscriptionItem,
} from '../../application/index.js';
import { EVENT_COLUMNS, toLogEntry, toRecordedEvent, type EventRow } from '../sql/event-rows.js';
import { GroupCommit, type Outcome } from '../sql/group-commit.js';
import { LogFollower } from '../sql/log-follower.js';
import { isStorageFault, openDatabase, storageError, type SqliteDatabase } from './database.js';
import { eventMigrations } from './migrations/0001-events.js';

export interface AppendRequest {
  readonly streamId: string;
  readonly events: readonly NewEvent[];
  readonly expected: ExpectedRevision;
}

interface SqliteEventRow extends EventRow {
  readonly position: bigint;
  readonly revision: bigint;
}

export interface SqliteEventStoreOptions {
  /** How often a waiting subscription looks for events that another process wrote (ms). */
  readonly pollIntervalMs?: number;
}

/**
 * The embedded default event store: one SQLite file (`events.db`), WAL, `synchronous=FULL`, so an
 * acknowledged append is on disk. Appends that arrive together share one transaction and one fsync
 * (group commit), each with its own expected-revision check. Other processes (the command-line
 * tools) may append to the same file; subscriptions see their events within `pollIntervalMs`.
 */
export class SqliteEventStore implements EventStore {
  static readonly FILE = 'events.db';

  private readonly statements;
  private readonly appender: GroupCommit<AppendRequest, AppendResult>;
  private readonly appendAll: (requests: readonly AppendRequest[]) => Outcome<AppendResult>[];
  private readonly follower: LogFollower;
  private closed = false;
  private committed = 0;

  private constructor(
    private readonly db: SqliteDatabase,
    readonly file: string,
    options: SqliteEventStoreOptions,
  ) {
    this.statements = {
      readStream: db.prepare<[string], SqliteEventRow>(`SELECT ${EVENT_COLUMNS} FROM events WHERE stream_id = ? ORDER BY revision`),
      currentRevision: db.prepare<[string], { r: bigint | null }>('SELECT max(revision) AS r FROM events WHERE stream_id = ?'),
      byEventId: db.prepare<[string], { stream_id: string; revision: bigint; position: bigint }>(
        'SELECT stream_id, revision, position FROM events WHERE event_id = ?',
      ),
      eventIdAt: db.prepare<[string, bigint], { event_id: string; position: bigint }>(
        'SELECT event_id, position FROM events WHERE stream_id = ? AND revision = ?',
      ),
      insert: db.prepare<[string, bigint, string, string, string, string]>(
        'INSERT INTO events (stream_id, revision, event_id, type, data, metadata) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      page: db.prepare<[bigint, number], SqliteEventRow>(`SELECT ${EVENT_COLUMNS} FROM events WHERE position > ? ORDER BY position LIMIT ?`),
      head: db.prepare<[], { p: bigint | null }>('SELECT max(position) AS p FROM events'),
    };
    this.follower = new LogFollower((after, limit) => this.read(() => this.statements.page.all(after, limit)).map(toLogEntry), options.pollIntervalMs ?? 100);
    const appendOne = db.transaction((request: AppendRequest) => this.appendInTransaction(request));
    const appendAll = db.transaction((requests: readonly AppendRequest[]) =>
      requests.map((request): Outcome<AppendResult> => {
        try {
          return { ok: appendOne(request) };
        } catch (error) {
          // The disk failing fails the whole batch; anything else fails this request alone.
          if (isStorageFault(error)) throw error;
          return { error };
        }
      }),
    );
    this.appendAll = appendAll.immediate;
    this.appender = new GroupCommit((requests) => {
      if (this.closed) throw new Error('the event store is closed');
      try {
        this.committed++;
        const outcomes = appendAll.immediate(requests);
        if (outcomes.some((o) => 'ok' in o)) this.notify();
        return outcomes;
      } catch (error) {
        throw storageError(error, this.file);
      }
    });
  }

  /** Opens (creating it if needed) `events.db` in `dir`. */
  static open(dir: string, options: SqliteEventStoreOptions = {}): SqliteEventStore {
    const file = join(dir, SqliteEventStore.FILE);
    const db = openDatabase(file, {
      synchronous: 'FULL',
      migrations: eventMigrations,
      whenDamaged: `Stop every process using it and restore it from a backup (see the README: backing up). To salvage what is readable: sqlite3 ${file} ".recover" | sqlite3 recovered.db`,
    });
    return new SqliteEventStore(db, file, options);
  }

  /** How many write transactions this store has run (each one fsync): what group commit saves. */
  get transactions(): number {
    return this.committed;
  }

  /** The open database, for the command-line tools and tests (`PRAGMA max_page_count` fills the "disk"). */
  get database(): Database.Database {
    return this.db;
  }

  async readStream(streamId: string): Promise<ReadStreamResult> {
    const rows = this.read(() => this.statements.readStream.all(streamId));
    return { currentRevision: rows.length === 0 ? undefined : rows.at(-1)!.revision, events: rows.map(toRecordedEvent) };
  }

  appendToStream(streamId: string, events: readonly NewEvent[], expected: ExpectedRevision): Promise<AppendResult> {
    return this.appender.submit({ streamId, events, expected });
  }

  /**
   * Many appends in one transaction, each checked and answered as appendToStream would: for bulk
   * imports. Throws (and writes nothing) when the disk fails.
   */
  appendMany(requests: readonly AppendRequest[]): Outcome<AppendResult>[] {
    if (this.closed) throw new Error('the event store is closed');
    try {
      this.committed++;
      const outcomes = this.appendAll(requests);
      this.notify();
      return outcomes;
    } catch (error) {
      throw storageError(error, this.file);
    }
  }

  /** Runs inside the batch's transaction (as a savepoint): check, then insert. */
  private appendInTransaction({ streamId, events, expected }: AppendRequest): AppendResult {
    const retried = this.retriedAppend(streamId, events, expected);
    if (retried) return retried;
    const current = this.statements.currentRevision.get(streamId)?.r ?? undefined;
    const ok = expected === 'any' || (expected === 'no_stream' ? current === undefined : current === expected);
    if (!ok) throw new WrongExpectedRevisionError(streamId, expected, current);
    if (events.length === 0) {
      const head = this.statements.head.get()?.p ?? -1n;
      return { nextExpectedRevision: current ?? -1n, position: { commit: head, prepare: head } };
    }
    let revision = current ?? -1n;
    let position = -1n;
    for (const e of events) {
      revision += 1n;
      const info = this.statements.insert.run(streamId, revision, e.id, e.type, JSON.stringify(e.data ?? null), JSON.stringify(e.metadata));
      position = BigInt(info.lastInsertRowid);
    }
    return { nextExpectedRevision: revision, position: { commit: position, prepare: position } };
  }

  /** The same events, with the same ids, at the revision the first attempt expected: answer as then. */
  private retriedAppend(streamId: string, events: readonly NewEvent[], expected: ExpectedRevision): AppendResult | undefined {
    const first = events[0];
    if (!first) return undefined;
    const existing = this.statements.byEventId.get(first.id);
    if (!existing || existing.stream_id !== streamId) return undefined;
    const start = expected === 'no_stream' ? 0n : expected === 'any' ? existing.revision : expected + 1n;
    if (existing.revision !== start) return undefined;
    let position = existing.position;
    for (let i = 1; i < events.length; i++) {
      const stored = this.statements.eventIdAt.get(streamId, start + BigInt(i));
      if (!stored || stored.event_id !== events[i]!.id) return undefined;
      position = stored.position;
    }
    return { nextExpectedRevision: start + BigInt(events.length - 1), position: { commit: position, prepare: position } };
  }

  async headPosition(): Promise<GlobalPosition | undefined> {
    const p = this.read(() => this.statements.head.get()?.p ?? null);
    return p === null ? undefined : { commit: p, prepare: p };
  }

  subscribeToAll(options: SubscribeOptions = {}): AsyncIterable<SubscriptionItem> {
    return this.follower.follow(options);
  }

  /** Test hook: makes every open subscription fail with `error`, the way a dropped connection does. */
  dropSubscriptions(error: Error = new Error('subscription dropped')): void {
    this.follower.drop(error);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.dropSubscriptions(new Error('event store closed'));
    this.closed = true;
    this.db.close();
  }

  private read<T>(query: () => T): T {
    if (this.closed) throw new Error('the event store is closed');
    try {
      return query();
    } catch (error) {
      throw storageError(error, this.file);
    }
  }

  private notify(): void {
    this.follower.notify();
  }
}
