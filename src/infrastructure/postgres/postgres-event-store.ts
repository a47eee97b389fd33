import type pg from 'pg';
import {
  WrongExpectedRevisionError,
  type AppendResult,
  type RecordedEvent,
  type ReadModelChange,
  type EventStore,
  type ExpectedRevision,
  type GlobalPosition,
  type NewEvent,
  type PositionedChanges,
  type ReadStreamResult,
  type SubscribeOptions,
  type SubscriptionItem,
} from '../../application/index.js';
import { toLogEntry, toRecordedEvent, type EventRow } from '../sql/event-rows.js';
import type { LogEntry } from '../sql/log-follower.js';
import { GroupCommit, type Outcome } from '../sql/group-commit.js';
import { LogFollower } from '../sql/log-follower.js';
import type { InlineProjectionOptions } from '../inline-projection.js';
import { isPgDataError, pgCanHoldKey, pgStoreError, unstorableAppend, unstorableInJson } from './errors.js';
import { ReadBatcher } from './read-batcher.js';
import { channelName, PgListener } from './live-feed.js';
import { migratePostgres, schemaIdentifier } from './migrate.js';
import { pgEventsSchema } from './migrations/0001-events.js';
import { pgAppendBatch } from './migrations/0003-append-batch.js';
import { pgInlineProjection } from './migrations/0005-inline-projection.js';
import { pgAppendHead } from './migrations/0006-append-head.js';
import type { PostgresProjectionStore } from './postgres-projection-store.js';

/**
 * The events' columns with data and metadata as their JSON text, as SQLite and the hand-over give
 * them (toRecordedEvent parses text): node-postgres would parse json itself, and a string value
 * would then be parsed a second time.
 */
const EVENT_COLUMNS = 'position, stream_id, revision, event_id, type, data::text AS data, metadata::text AS metadata';

const pgEventMigrations = [pgEventsSchema, pgAppendBatch, pgInlineProjection, pgAppendHead];

export type { InlineProjectionOptions } from '../inline-projection.js';

interface AppendRequest {
  readonly streamId: string;
  readonly events: readonly NewEvent[];
  readonly expected: ExpectedRevision;
}

export interface PostgresEventStoreOptions {
  /** The schema that holds the tables (default `smtp_config`); made if missing. */
  readonly schema?: string;
  /** How often a waiting subscription reads again without a notification (ms). */
  readonly pollIntervalMs?: number;
  /** Events read per round trip by a subscription (default 2 000). */
  readonly pageSize?: number;
  /** Test hook: how long each append transaction stays open before it commits (ms), as a slow disk would make it. */
  readonly holdBeforeCommitMs?: () => number;
}

/**
 * Events in PostgreSQL, in a schema of their own. Appends that arrive while a transaction is being
 * written are committed together in the next one (group commit), each through `append_to_stream`
 * (see its migration for the expected-revision check and why positions never commit out of order).
 * Subscriptions read the log in pages and are woken by NOTIFY, with polling as the fallback.
 * The pool belongs to the caller.
 */
export class PostgresEventStore implements EventStore {
  private readonly schema: string;
  private readonly follower: LogFollower;
  private readonly appender: GroupCommit<AppendRequest, AppendResult>;
  private readonly listener: PgListener;
  private readonly streamReads = new ReadBatcher<string, ReadStreamResult>((ids) => this.readStreams(ids), 2, 500, isPgDataError);
  private closed = false;
  /** How many append batches of this process are being committed (see announce). */
  private committing = 0;
  /** The highest position announced by the database while a batch was being committed. */
  private heldAnnouncement: bigint | undefined;
  private inline: (InlineProjectionOptions & { readonly readModel: PostgresProjectionStore }) | undefined;

  private constructor(
    private readonly pool: pg.Pool,
    options: PostgresEventStoreOptions,
  ) {
    this.schema = schemaIdentifier(options.schema ?? 'smtp_config');
    const s = this.schema;
    this.follower = new LogFollower(
      async (after, limit) =>
        (await this.query<EventRow>(`SELECT ${EVENT_COLUMNS} FROM ${s}.events WHERE position > $1 ORDER BY position LIMIT $2`, [after.toString(), limit])).map(
          toLogEntry,
        ),
      options.pollIntervalMs ?? 500,
      // A page is one round trip; while catching up the runner applies whatever one page brought.
      options.pageSize ?? 2_000,
    );
    // The payload is the last position appended (see append_batch); after a reconnect there is none.
    this.listener = new PgListener(pool.options, {
      [channelName(s, 'events')]: (payload) => this.announce(payload && /^\d+$/.test(payload) ? BigInt(payload) : undefined),
    });
    this.appender = new GroupCommit((requests) => this.commit(requests, options.holdBeforeCommitMs?.() ?? 0));
  }

  /** Migrates the schema (once across replicas) and starts listening. */
  static async open(pool: pg.Pool, options: PostgresEventStoreOptions = {}): Promise<PostgresEventStore> {
    const store = new PostgresEventStore(pool, options);
    await migratePostgres(pool, store.schema, 'events', pgEventMigrations);
    await store.listener.start();
    return store;
  }

  /** The schema that holds the events. */
  get schemaName(): string {
    return this.schema;
  }

  /**
   * Projects inline into `readModel` (which must live in this store's schema): an append that finds
   * the read model at the log's head writes its own events' rows and moves the checkpoint in the same
   * transaction, so a command can answer from the read model without waiting for the runner. The
   * runner still follows the log: it catches up whatever could not go inline (after a start, a
   * rebuild, another writer's append that did not project) and skips what did.
   */
  projectInline(readModel: PostgresProjectionStore, options: InlineProjectionOptions): void {
    if (readModel.schemaName !== this.schema) {
      throw new TypeError(`an inline projection must write a read model in the events' schema (${this.schema}), not in ${readModel.schemaName}`);
    }
    this.inline = { ...options, readModel };
  }

  /** A stream id PostgreSQL's text cannot hold is a stream nobody could append to: empty, without a query (see pgCanHoldKey). */
  readStream(streamId: string): Promise<ReadStreamResult> {
    if (this.closed) return Promise.reject(new Error('the event store is closed'));
    if (!pgCanHoldKey(streamId)) return Promise.resolve({ currentRevision: undefined, events: [] });
    return this.streamReads.get(streamId);
  }

  /** The streams read together, in one query (see ReadBatcher). */
  private async readStreams(streamIds: readonly string[]): Promise<ReadStreamResult[]> {
    const rows =
      streamIds.length === 1
        ? await this.query<EventRow>(`SELECT ${EVENT_COLUMNS} FROM ${this.schema}.events WHERE stream_id = $1 ORDER BY revision`, [streamIds[0]])
        : await this.query<EventRow>(`SELECT ${EVENT_COLUMNS} FROM ${this.schema}.events WHERE stream_id = ANY($1::text[]) ORDER BY stream_id, revision`, [
            [...new Set(streamIds)],
          ]);
    const byStream = new Map<string, RecordedEvent[]>();
    for (const row of rows) {
      const event = toRecordedEvent(row);
      const list = byStream.get(event.streamId);
      if (list) list.push(event);
      else byStream.set(event.streamId, [event]);
    }
    return streamIds.map((id) => {
      const events = byStream.get(id) ?? [];
      return { currentRevision: events.at(-1)?.revision, events };
    });
  }

  appendToStream(streamId: string, events: readonly NewEvent[], expected: ExpectedRevision): Promise<AppendResult> {
    if (this.closed) return Promise.reject(new Error('the event store is closed'));
    return this.appender.submit({ streamId, events, expected });
  }

  /**
   * A notification of new events. While this process commits a batch, the notification of that very
   * batch often arrives before the batch's own answer: it is held until the answer, when the batch's
   * events are handed to the subscriptions (so they need not read them back); one from another
   * writer then wakes them as usual, a millisecond later.
   */
  private announce(upTo: bigint | undefined): void {
    if (this.committing > 0 && upTo !== undefined) {
      if (this.heldAnnouncement === undefined || upTo > this.heldAnnouncement) this.heldAnnouncement = upTo;
      return;
    }
    this.follower.notify(upTo);
  }

  private async commit(requests: readonly AppendRequest[], holdMs: number): Promise<Outcome<AppendResult>[]> {
    this.committing++;
    try {
      return await this.commitBatch(requests, holdMs);
    } finally {
      const held = --this.committing === 0 ? this.heldAnnouncement : undefined;
      if (held !== undefined) {
        this.heldAnnouncement = undefined;
        this.follower.notify(held);
      }
    }
  }

  /**
   * One statement, one round trip, one transaction for the whole batch (see `append_batch`). A
   * request whose text PostgreSQL cannot store is answered with an error of its own and left out,
   * so that it cannot fail the appends beside it.
   */
  private async commitBatch(all: readonly AppendRequest[], holdMs: number): Promise<Outcome<AppendResult>[]> {
    const inline = this.inline;
    const prepared = all.map((r) => prepareRequest(r, inline));
    const sent = prepared.filter((p) => p.unstorable === undefined);
    const results = sent.length > 0 ? await this.commitPrepared(sent, holdMs) : [];
    let k = 0;
    return prepared.map((p) => (p.unstorable === undefined ? results[k++]! : { error: unstorableAppend(p.request.streamId, p.unstorable) }));
  }

  private async commitPrepared(prepared: readonly PreparedRequest[], holdMs: number): Promise<Outcome<AppendResult>[]> {
    const inline = this.inline;
    const requests = prepared.map((p) => p.request);
    const changes = inline ? prepared.map((p) => p.changes) : undefined;
    const written = prepared.map((p) => p.written);
    const payload = `[${prepared.map((p) => p.json).join(',')}]`;
    const rows = await this.query<{ r_status: string; r_next_revision: string | null; r_last_position: string | null; r_projected: boolean; r_head_before: string }>(
      `SELECT r_status, r_next_revision, r_last_position, r_projected, r_head_before FROM ${this.schema}.append_batch($1, $2, $3) ORDER BY r_index`,
      [payload, Math.round(holdMs), inline?.readModel.projectionName ?? null],
    );
    let projected: GlobalPosition | undefined;
    const applied: PositionedChanges[] = [];
    const outcomes = requests.map((r, i): Outcome<AppendResult> => {
      const row = rows[i]!;
      const current = row.r_next_revision === null ? undefined : BigInt(row.r_next_revision);
      if (row.r_status === 'ok') {
        const position = BigInt(row.r_last_position!);
        if (row.r_projected) {
          projected = { commit: position, prepare: position };
          applied.push({ changes: changes![i] ?? [], position: projected });
        }
        return { ok: { nextExpectedRevision: current!, position: { commit: position, prepare: position } } };
      }
      if (row.r_status === 'conflict') return { error: new WrongExpectedRevisionError(r.streamId, r.expected, current) };
      return { error: new Error(`stream ${r.streamId}: an event id of this append is already used by another event`) };
    });
    // Subscriptions get the new events at once: handed over when they are known to be every event
    // after the head the batch started at, else woken to read them.
    const handedOver = rows.length > 0 ? appendedEntries(requests, written, rows, BigInt(rows[0]!.r_head_before)) : undefined;
    if (handedOver) this.follower.offer(BigInt(rows[0]!.r_head_before), handedOver);
    else if (rows.some((row) => row.r_status === 'ok')) this.follower.notify();
    // Before the appenders hear of their appends, so that a command waiting for its own position finds it reached.
    if (projected) {
      inline!.readModel.noteInlineApplied(applied);
      try {
        inline?.onProjected?.(projected);
      } catch {
        // The appends are committed: a failing listener must not answer them as failed (a client would
        // retry a write that is in). Whoever waits for them reads the checkpoint instead.
      }
    }
    return outcomes;
  }

  async headPosition(): Promise<GlobalPosition | undefined> {
    const [row] = await this.query<{ p: string | null }>(`SELECT max(position) AS p FROM ${this.schema}.events`);
    return row?.p == null ? undefined : { commit: BigInt(row.p), prepare: BigInt(row.p) };
  }

  subscribeToAll(options: SubscribeOptions = {}): AsyncIterable<SubscriptionItem> {
    return this.follower.follow(options);
  }

  /** Test hook: makes every open subscription fail with `error`, the way a dropped connection does. */
  dropSubscriptions(error: Error = new Error('subscription dropped')): void {
    this.follower.drop(error);
  }

  /** Stops listening and ends open subscriptions; the pool stays open (it is the caller's). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.follower.drop(new Error('event store closed'));
    await this.listener.close();
  }

  private async query<R extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<R[]> {
    if (this.closed) throw new Error('the event store is closed');
    try {
      return (await this.pool.query<R>(text, values)).rows;
    } catch (error) {
      throw pgStoreError(error);
    }
  }
}

/** JSON for the database: bigints (revisions, sequences) as strings, which the SQL casts back. */
const bigintsAsStrings = (_key: string, value: unknown): unknown => (typeof value === 'bigint' ? value.toString() : value);

interface WrittenEvent {
  readonly id: string;
  readonly type: string;
  /** The event's data as JSON text, as the database keeps it (json keeps the text as given). */
  readonly data: string;
  readonly metadata: string;
}

interface PreparedRequest {
  readonly request: AppendRequest;
  readonly written: readonly WrittenEvent[];
  readonly changes: readonly ReadModelChange[] | undefined;
  /** The request as append_batch reads it. */
  readonly json: string;
  /** What in it PostgreSQL cannot store, if anything. */
  readonly unstorable: string | undefined;
}

/**
 * A request as JSON for append_batch, with each event's data and metadata as the database will keep
 * them, so that the events handed to subscriptions after the commit are what a read would return.
 */
const prepareRequest = (r: AppendRequest, inline: InlineProjectionOptions | undefined): PreparedRequest => {
  const written = r.events.map((e) => ({ id: e.id, type: e.type, data: JSON.stringify(e.data ?? null, bigintsAsStrings), metadata: JSON.stringify(e.metadata, bigintsAsStrings) }));
  const changes = inline ? inlineChanges(inline, r) : undefined;
  const json =
    `{"stream":${JSON.stringify(r.streamId)},"expected":${JSON.stringify(typeof r.expected === 'bigint' ? r.expected.toString() : r.expected)},"events":[` +
    written.map((e) => `{"id":${JSON.stringify(e.id)},"type":${JSON.stringify(e.type)},"data":${e.data},"metadata":${e.metadata}}`).join(',') +
    `]${changes !== undefined ? `,"changes":${JSON.stringify(changes, bigintsAsStrings)}` : ''}}`;
  return { request: r, written, changes, json, unstorable: unstorableInJson(json) };
};

/**
 * The batch's new events as log entries, when their positions are known to be exactly every position
 * from `headBefore + 1` to the batch's last: the append lock was held from reading that head to the
 * commit, so every position in between is the batch's own; each request's events took consecutive
 * positions ending at its last, checked here against the previous request's (a gap, say from a
 * sequence value a failed insert used up, gives undefined: the subscriptions then read the log).
 * Requests that appended nothing new (a conflict, a retried append answered as before) are skipped.
 */
const appendedEntries = (
  requests: readonly AppendRequest[],
  written: readonly (readonly WrittenEvent[])[],
  rows: readonly { readonly r_status: string; readonly r_next_revision: string | null; readonly r_last_position: string | null }[],
  headBefore: bigint,
): LogEntry[] | undefined => {
  const entries: LogEntry[] = [];
  let next = headBefore + 1n;
  for (let i = 0; i < requests.length; i++) {
    const row = rows[i]!;
    const events = written[i]!;
    if (row.r_status !== 'ok' || events.length === 0) continue;
    const last = BigInt(row.r_last_position!);
    if (last <= headBefore) continue;
    const first = last - BigInt(events.length) + 1n;
    if (first !== next) return undefined;
    const streamId = requests[i]!.streamId;
    const firstRevision = BigInt(row.r_next_revision!) - BigInt(events.length) + 1n;
    events.forEach((e, k) => {
      const position = first + BigInt(k);
      const row: EventRow = { position, stream_id: streamId, revision: firstRevision + BigInt(k), event_id: e.id, type: e.type, data: e.data, metadata: e.metadata };
      entries.push(toLogEntry(row));
    });
    next = last + 1n;
  }
  return entries.length > 0 ? entries : undefined;
};

/** Not known before the append; the handler must not use it (see InlineProjectionOptions). */
const UNKNOWN_POSITION: GlobalPosition = Object.freeze({ commit: -1n, prepare: -1n });

/**
 * The read-model changes of one append's events, as the projection runner would decide them, or
 * undefined when they cannot be decided before the append: 'any' leaves the revisions unknown, and a
 * handler that refuses an event (a malformed payload) leaves it to the runner, which stops there.
 */
const inlineChanges = (inline: InlineProjectionOptions, r: AppendRequest): readonly ReadModelChange[] | undefined => {
  if (inline.streamPrefixes && !inline.streamPrefixes.some((p) => r.streamId.startsWith(p))) return [];
  if (r.expected === 'any') return undefined;
  const first = r.expected === 'no_stream' ? 0n : r.expected + 1n;
  try {
    return r.events.flatMap((e, i) =>
      inline.handler({ id: e.id, streamId: r.streamId, revision: first + BigInt(i), position: UNKNOWN_POSITION, type: e.type, data: e.data, metadata: e.metadata }),
    );
  } catch {
    return undefined;
  }
};
