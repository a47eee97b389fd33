import { closeSync, fdatasync, fdatasyncSync, openSync } from 'node:fs';
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
import { storeUnavailable } from '../sql/store-errors.js';
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
  /**
   * How a commit is made durable. `full` (default): `synchronous=FULL`, SQLite fsyncs the
   * write-ahead log inside the commit, on the event loop. `thread-pool` (the server's): the log is
   * flushed with fdatasync on libuv's thread pool after the commit, and the batch's events are
   * answered and shown only after that (see the class comment); the event loop serves other
   * requests meanwhile.
   */
  readonly durability?: 'full' | 'thread-pool';
}

/** A committed batch whose WAL frames are being flushed to disk. */
interface Unsynced {
  /** The batch's first position: rows from here on are not known to be on disk yet. */
  readonly floor: bigint;
  /** The streams the batch wrote to. */
  readonly streams: ReadonlySet<string>;
  /** Settles (never rejects) once the flush is over. */
  readonly done: Promise<void>;
}

/**
 * The embedded default event store: one SQLite file (`events.db`), WAL. An acknowledged append is
 * on disk: appends that arrive together share one transaction (group commit), each with its own
 * expected-revision check, and are answered only once the write-ahead log is flushed.
 *
 * With `durability: 'full'` SQLite flushes it inside the commit (`synchronous=FULL`). With
 * `'thread-pool'` (the server's) the connection is `synchronous=NORMAL` (the file stays consistent,
 * SQLite syncs only at checkpoints) and the store itself flushes the log with fdatasync on libuv's
 * thread pool after each commit, before answering: as durable as FULL, without stopping every other
 * request for the 0.5-2 ms an fsync takes. Until that flush is over, the batch's events are kept
 * from what could act on them in this process: subscriptions (the read model never shows an event
 * that a power cut could take back), `readStream` of the streams it wrote (no command is decided on
 * such an event) and `headPosition`; the next batch waits for it. (Another process reading the file
 * in that millisecond can see them.)
 *
 * Other processes (the command-line tools) may append to the same file; subscriptions see their
 * events within `pollIntervalMs`.
 */
export class SqliteEventStore implements EventStore {
  static readonly FILE = 'events.db';

  private readonly statements;
  private readonly appender: GroupCommit<AppendRequest, AppendResult>;
  private readonly appendAll: (requests: readonly AppendRequest[]) => Outcome<AppendResult>[];
  private readonly follower: LogFollower;
  private closed = false;
  private committed = 0;
  /** Set while the last batch's flush is running. */
  private unsynced: Unsynced | undefined;
  /** The first position the running transaction inserted, and the streams it wrote to. */
  private batchFloor: bigint | undefined;
  private batchStreams = new Set<string>();
  /** A flush failed: what was committed since may not be on disk, so nothing more is acknowledged. */
  private syncFailure: unknown;
  private walFd: number | undefined;
  private readonly flushes: boolean;

  private constructor(
    private readonly db: SqliteDatabase,
    readonly file: string,
    options: SqliteEventStoreOptions,
  ) {
    this.flushes = options.durability === 'thread-pool';
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
      pageBelow: db.prepare<[bigint, bigint, number], SqliteEventRow>(
        `SELECT ${EVENT_COLUMNS} FROM events WHERE position > ? AND position < ? ORDER BY position LIMIT ?`,
      ),
      head: db.prepare<[], { p: bigint | null }>('SELECT max(position) AS p FROM events'),
    };
    this.follower = new LogFollower((after, limit) => {
      // Events not yet on disk are not delivered: they come with the notification after the flush.
      const floor = this.unsynced?.floor;
      const rows = this.read(() => (floor === undefined ? this.statements.page.all(after, limit) : this.statements.pageBelow.all(after, floor, limit)));
      return rows.map(toLogEntry);
    }, options.pollIntervalMs ?? 100);
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
    this.appender = new GroupCommit(async (requests) => {
      if (this.closed) throw new Error('the event store is closed');
      if (this.syncFailure !== undefined) throw this.failedSync();
      let outcomes: Outcome<AppendResult>[];
      this.batchFloor = undefined;
      this.batchStreams = new Set();
      try {
        this.committed++;
        outcomes = appendAll.immediate(requests);
      } catch (error) {
        throw storageError(error, this.file);
      }
      // Nothing inserted (conflicts, retries of appends made durable before): nothing to flush.
      if (this.flushes && this.batchFloor !== undefined) await this.flush(this.batchFloor, this.batchStreams);
      if (outcomes.some((o) => 'ok' in o)) this.notify();
      return outcomes;
    });
  }

  /**
   * Flushes the write-ahead log (fdatasync, on the thread pool) after a commit; until it is over the
   * batch's events stay hidden (see the class comment). If it fails, the batch is refused and the
   * store takes no more writes: the kernel may have dropped the pages it could not write, and a
   * restart reads what really is on disk.
   */
  private async flush(floor: bigint, streams: ReadonlySet<string>): Promise<void> {
    let fd: number;
    try {
      fd = this.walFd ??= openSync(`${this.file}-wal`, 'r');
    } catch (error) {
      this.syncFailure = error;
      throw this.failedSync();
    }
    const flushed = new Promise<void>((resolve, reject) => fdatasync(fd, (error) => (error ? reject(error) : resolve())));
    this.unsynced = { floor, streams, done: flushed.then(noop, noop) };
    try {
      await flushed;
    } catch (error) {
      this.syncFailure = error;
      throw this.failedSync();
    } finally {
      this.unsynced = undefined;
    }
  }

  private failedSync(): unknown {
    const code = (this.syncFailure as NodeJS.ErrnoException | undefined)?.code ?? 'I/O error';
    // The file's path and the remedy are the operator's (the log); a client is told the kind.
    return storeUnavailable(`flushing ${this.file} to disk failed (${code}); restart the server`, this.syncFailure, `flushing the events to disk failed (${code})`);
  }

  /** Opens (creating it if needed) `events.db` in `dir`. */
  static open(dir: string, options: SqliteEventStoreOptions = {}): SqliteEventStore {
    const file = join(dir, SqliteEventStore.FILE);
    const db = openDatabase(file, {
      // thread-pool: durable by the store's own flush after each commit (see the class comment).
      synchronous: options.durability === 'thread-pool' ? 'NORMAL' : 'FULL',
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
    // A command is never decided on an event that is not on disk yet (the flush takes a moment).
    const pending = this.unsynced;
    if (pending?.streams.has(streamId)) await pending.done;
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
      if (this.syncFailure !== undefined) throw this.failedSync();
      this.committed++;
      this.batchFloor = undefined;
      this.batchStreams = new Set();
      const outcomes = this.appendAll(requests);
      if (this.flushes && this.batchFloor !== undefined) {
        try {
          fdatasyncSync((this.walFd ??= openSync(`${this.file}-wal`, 'r')));
        } catch (error) {
          this.syncFailure = error;
          throw this.failedSync();
        }
      }
      // (Events of a group-commit batch still being flushed stay hidden until its flush is over.)
      this.notify();
      return outcomes;
    } catch (error) {
      throw storageError(error, this.file);
    }
  }

  /** Runs inside the batch's transaction (as a savepoint): check, then insert. */
  private appendInTransaction({ streamId, events, expected }: AppendRequest): AppendResult {
    const current = this.statements.currentRevision.get(streamId)?.r ?? undefined;
    const ok = expected === 'any' || (expected === 'no_stream' ? current === undefined : current === expected);
    // A retry of an append that went through finds the stream past the revision it expected, so
    // it is looked for only then (or when any revision was expected): one look-up less per append.
    if (!ok || expected === 'any') {
      const retried = this.retriedAppend(streamId, events, expected);
      if (retried) return retried;
    }
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
      this.batchFloor ??= position;
    }
    this.batchStreams.add(streamId);
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
    while (this.unsynced) await this.unsynced.done;
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
    while (this.unsynced) await this.unsynced.done;
    this.db.close();
    if (this.walFd !== undefined) closeSync(this.walFd);
    this.walFd = undefined;
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

const noop = (): void => {};
