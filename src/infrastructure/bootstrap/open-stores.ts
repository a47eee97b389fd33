import type pg from 'pg';
import type { Logger } from 'pino';
import {
  catchUpReadModel,
  CheckpointWatcher,
  comparePositions,
  projectEvent,
  type EventStore,
  type GlobalPosition,
  type ProjectionLock,
  type ProjectionStore,
} from '../../application/index.js';
import { INSTANCE_STREAM_PREFIX } from '../../domain/index.js';
import type { Config } from '../config.js';
import { DataDirLock } from '../sqlite/data-dir-lock.js';
import { importLegacyLog } from '../sqlite/jsonl-import.js';
import { SqliteEventStore } from '../sqlite/sqlite-event-store.js';
import { SqliteProjectionStore } from '../sqlite/sqlite-projection-store.js';
import { StoreFileError } from '../sqlite/store-file-error.js';
import { makeDirectory } from '../system/make-directory.js';

/** How replicas sharing one read model agree on its single writer and learn that it moved. */
export interface SharedReadModel {
  readonly lock: ProjectionLock;
  /** Read-your-writes for a replica that does not project: the shared checkpoint, woken by notifications. */
  readonly watcher: CheckpointWatcher;
  /**
   * Tells `listener` of every position an append of this process projected inline (the read model
   * holds everything up to it), as the watcher is told: the runner, while this replica leads, then
   * skips those events without asking the read model.
   */
  onInlineProjected(listener: (position: GlobalPosition) => void): void;
}

/** The event store alone, for the commands that never read the read model (see openStores' `readModel: false`). */
export interface OpenedEvents {
  readonly events: EventStore;
  /** Where the data lives, for log lines (never a password). */
  readonly description: string;
  /** Closes the stores and, for a server, lets go of the data directory. */
  close(): Promise<void>;
}

export interface OpenedStores extends OpenedEvents {
  readonly readModel: ProjectionStore;
  /** Set when the read model is shared by several processes (PostgreSQL); undefined when this process owns it. */
  readonly shared: SharedReadModel | undefined;
}

export interface OpenOptions {
  /**
   * false: open the events only (the tools that export, import or copy them, and a rebuild, which
   * makes its own read model): a damaged `read-model.db`, or a dropped read-model table, does not
   * stop them. Only for `role: 'tool'`.
   */
  readonly readModel?: boolean;
}

/**
 * The one place where the environment becomes stores:
 *
 * | set                                        | events       | read model  |
 * | ------------------------------------------ | ------------ | ----------- |
 * | nothing                                    | SQLite       | SQLite      |
 * | DATABASE_URL                               | PostgreSQL   | PostgreSQL  |
 * | EVENTSTORE_CONNECTION_STRING               | EventStoreDB | SQLite      |
 * | EVENTSTORE_CONNECTION_STRING, DATABASE_URL | EventStoreDB | PostgreSQL  |
 *
 * `role: 'server'` on SQLite takes the data directory's lock first (one server per directory) and
 * imports an earlier version's JSON-lines log; with DATABASE_URL, replicas share the database and
 * DATA_DIR (which then holds only development keys) takes no lock. `role: 'tool'` (the
 * command-line tools) works beside running servers.
 */
export async function openStores(config: Config, dataDir: string, logger: Logger, role: 'server' | 'tool', options?: OpenOptions & { readModel?: true }): Promise<OpenedStores>;
export async function openStores(config: Config, dataDir: string, logger: Logger, role: 'tool', options: { readModel: false }): Promise<OpenedEvents>;
export async function openStores(config: Config, dataDir: string, logger: Logger, role: 'server' | 'tool', options: OpenOptions = {}): Promise<OpenedEvents | OpenedStores> {
  makeDirectory(dataDir);
  const closers: (() => Promise<void> | void)[] = [];
  const close = async () => {
    for (const c of closers.splice(0).reverse()) await c();
  };
  try {
    // Drivers are loaded only for the store that is configured: a SQLite start loads no gRPC or pg.
    const postgres = config.DATABASE_URL ? await import('../postgres/index.js') : undefined;
    let pool: pg.Pool | undefined;
    if (config.DATABASE_URL) {
      const { default: driver } = await import('pg');
      // Every session (the pool's, the LISTEN connections', the projection lock's: they all take the
      // pool's options) is named in pg_stat_activity, unless DATABASE_URL or PGAPPNAME names it, gives
      // up connecting after DATABASE_CONNECT_TIMEOUT_MS, and has TCP keep-alive on, so that a
      // connection to a database that vanished from the network is found dead. A statement ends after
      // DATABASE_QUERY_TIMEOUT_MS in PostgreSQL itself (statement_timeout: it is rolled back, so the
      // 503 that follows is true to say nothing was saved); the client stops waiting for the answer
      // a little later (the pool then drops the connection), for a database that answers nothing at
      // all. With the client's timer alone, a statement waiting for a lock went on waiting in the
      // server after the client's 503, and committed once it got the lock.
      const p = new driver.Pool({
        connectionString: config.DATABASE_URL,
        max: config.DATABASE_POOL_SIZE,
        fallback_application_name: 'smtp-config',
        connectionTimeoutMillis: config.DATABASE_CONNECT_TIMEOUT_MS,
        statement_timeout: config.DATABASE_QUERY_TIMEOUT_MS,
        query_timeout: config.DATABASE_QUERY_TIMEOUT_MS + QUERY_ANSWER_GRACE_MS,
        // A transaction left idle (its process stopped without dying inside a read-model batch, which
        // holds the checkpoint row) is rolled back and its session ended, so that the replica that took
        // the projection lock over is not kept waiting for the row for as long as the other is stopped.
        idle_in_transaction_session_timeout: idleInTransactionTimeoutMs(config),
        keepAlive: true,
      });
      p.on('error', (err) => logger.warn({ err: withoutClient(err) }, 'an idle database connection failed'));
      pool = p;
      closers.push(() => p.end());
    } else if (role === 'server') {
      const lock = DataDirLock.acquire(dataDir);
      closers.push(() => lock.release());
    }

    let events: EventStore;
    if (config.EVENTSTORE_CONNECTION_STRING) {
      const { EventStoreDBEventStore } = await import('../eventstoredb/eventstoredb-event-store.js');
      events = EventStoreDBEventStore.fromConnectionString(config.EVENTSTORE_CONNECTION_STRING);
    } else if (pool && postgres) {
      events = await postgres.PostgresEventStore.open(pool, { schema: config.DATABASE_SCHEMA });
    } else {
      // The server flushes commits off the event loop; the tools keep SQLite's own synchronous=FULL.
      events = SqliteEventStore.open(dataDir, role === 'server' ? { durability: 'thread-pool' } : {});
    }
    const opened = events;
    closers.push(() => opened.close());
    if (events instanceof SqliteEventStore && role === 'server') {
      const report = await importLegacyLog(dataDir, events);
      if (report) {
        logger.info(report, `imported ${report.imported} of ${report.events} events from the JSON-lines log of an earlier version; it was moved to ${report.movedTo}`);
        if (report.tornTail) logger.warn({ file: report.file }, 'the log ended in a line cut short by a crash; it was never acknowledged and was left out');
      }
    }

    if (options.readModel === false) {
      const description = `events in ${describeEvents(events, config)}`;
      logger.info(description);
      return { events, description, close };
    }

    let readModel: ProjectionStore;
    let shared: SharedReadModel | undefined;
    if (pool && postgres) {
      // Tables dropped or altered by hand: opening would not make them again (their schema steps are
      // recorded), and the first statement on them would fail with a bare "relation … does not exist".
      const damage = await postgres.PostgresProjectionStore.attach(pool, { schema: config.DATABASE_SCHEMA }).damage();
      if (damage !== undefined) {
        throw new StoreFileError(
          `schema ${config.DATABASE_SCHEMA} (read-model)`,
          `the read model in the schema ${config.DATABASE_SCHEMA} is damaged (${damage}). It holds only what can be rebuilt: run \`smtp-config projection rebuild\` (with the same DATABASE_URL and DATABASE_SCHEMA) to rebuild it from the events and put it in its place; replicas running on it go on once it is done`,
          { damaged: true },
        );
      }
      const sharedReadModel = await postgres.PostgresProjectionStore.open(pool, { schema: config.DATABASE_SCHEMA });
      readModel = sharedReadModel;
      const watcher = new CheckpointWatcher(sharedReadModel);
      const listener = new postgres.PgListener(pool.options, { [sharedReadModel.checkpointChannel]: () => watcher.notify() });
      await listener.start();
      closers.push(() => listener.close());
      const inlineListeners: ((position: GlobalPosition) => void)[] = [];
      shared = {
        lock: new postgres.PgProjectionLock(pool.options, config.DATABASE_SCHEMA),
        watcher,
        onInlineProjected: (listener) => void inlineListeners.push(listener),
      };
      // A server's appends project inline when the read model stands at the log's head (the runner
      // on the lock holder projects the rest), so its own POST answers without waiting for a runner.
      if (role === 'server' && events instanceof postgres.PostgresEventStore) {
        events.projectInline(sharedReadModel, {
          handler: projectEvent,
          streamPrefixes: [INSTANCE_STREAM_PREFIX],
          onProjected: (p) => {
            watcher.reached(p);
            for (const listener of inlineListeners) listener(p);
          },
        });
      }
    } else {
      const sqlite = SqliteProjectionStore.open(dataDir);
      readModel = sqlite;
      closers.push(() => sqlite.close());
    }
    if (events instanceof SqliteEventStore || (postgres && events instanceof postgres.PostgresEventStore)) {
      await refuseReadModelAhead(events, readModel, config);
    }

    const description = `events in ${describeEvents(events, config)}, read model in ${pool ? `PostgreSQL (schema ${config.DATABASE_SCHEMA})` : `SQLite (${dataDir})`}`;
    logger.info(description);
    return { events, readModel, shared, description, close };
  } catch (error) {
    await close();
    if (config.DATABASE_URL) {
      const { codeOf, isPgUnavailable } = await import('../postgres/errors.js');
      if (isPgUnavailable(error)) throw postgresUnreachable(config, error, codeOf(error));
    }
    throw error;
  }
}

/**
 * How much longer than PostgreSQL's statement_timeout the client waits for an answer: enough for the
 * server's cancellation to arrive first on a database that answers at all (the client's timer starts
 * when the statement is sent, the server's when it starts running).
 */
const QUERY_ANSWER_GRACE_MS = 1_000;

/** The longest a server's transaction may sit idle between its statements (they follow each other within milliseconds). */
const IDLE_IN_TRANSACTION_MAX_MS = 10_000;

/**
 * The idle_in_transaction_session_timeout of every session that can hold a transaction: the
 * servers' pool and the operator commands' own pools (projection rebuild's switch, events copy's
 * target). A process stopped inside one (SIGSTOP, Ctrl-Z, a paused VM) would otherwise keep its
 * locks for as long as it is stopped; PostgreSQL rolls it back and ends the session instead.
 */
export const idleInTransactionTimeoutMs = (config: Pick<Config, 'DATABASE_QUERY_TIMEOUT_MS'>): number =>
  Math.min(config.DATABASE_QUERY_TIMEOUT_MS, IDLE_IN_TRANSACTION_MAX_MS);

/** Where DATABASE_URL points, without its user and password: for messages. */
const databaseAddress = (url: string): string => {
  try {
    const u = new URL(url);
    return `${u.hostname || 'localhost'}:${u.port || '5432'}${u.pathname.length > 1 ? u.pathname : ''}`;
  } catch {
    return 'the address in DATABASE_URL';
  }
};

/**
 * A start that could not reach PostgreSQL: where it tried, what failed, and what to check. A
 * statement that PostgreSQL canceled, or that got no answer in time, most often waited for the
 * migration lock that another replica holds while it migrates the schema: say so.
 */
const postgresUnreachable = (config: Config, error: unknown, code: string): Error => {
  if (code === '57014' || code === '55P03' || (error instanceof Error && /Query read timeout/i.test(error.message))) {
    return new Error(
      `PostgreSQL at ${databaseAddress(config.DATABASE_URL!)} (DATABASE_URL) did not finish a statement within DATABASE_QUERY_TIMEOUT_MS (${config.DATABASE_QUERY_TIMEOUT_MS} ms): ` +
        `${error instanceof Error ? error.message : String(error)}. At a start, another replica may be migrating the schema ${config.DATABASE_SCHEMA} (it holds the migration lock): ` +
        'start again once it is done, or raise DATABASE_QUERY_TIMEOUT_MS if a migration takes longer; pg_stat_activity shows what is waiting.',
      { cause: error },
    );
  }
  return new Error(
    `cannot reach PostgreSQL at ${databaseAddress(config.DATABASE_URL!)} (DATABASE_URL): ${error instanceof Error ? error.message : String(error)}. ` +
      `Check that it runs and accepts connections from this host; a connection may take up to DATABASE_CONNECT_TIMEOUT_MS (${config.DATABASE_CONNECT_TIMEOUT_MS} ms).`,
    { cause: error },
  );
};

/**
 * A failed idle connection's error as logged: pg-pool hangs the client on it (`err.client`), whose
 * whole state pino would write out, kilobytes for each of the connections a database restart ends.
 */
const withoutClient = (err: Error): Error => {
  const { client: _client, ...fields } = err as Error & { client?: unknown };
  return Object.assign(Object.create(Object.getPrototypeOf(err) as object) as Error, fields, { message: err.message, stack: err.stack });
};

const describeEvents = (events: EventStore, config: Config): string =>
  events instanceof SqliteEventStore ? `SQLite (${events.file})` : config.EVENTSTORE_CONNECTION_STRING ? 'EventStoreDB' : `PostgreSQL (schema ${config.DATABASE_SCHEMA})`;

/**
 * A read model that has seen more events than the event store holds means the events were
 * replaced, emptied or lost: starting would serve rows whose events are gone. Stop and say so.
 * (openStores checks it; a tool that opens its read model itself, projection rebuild, calls it.)
 */
export const refuseReadModelAhead = async (events: EventStore, readModel: ProjectionStore, config: Config): Promise<void> => {
  const where = describeEvents(events, config);
  const checkpoint = await readModel.checkpoint();
  if (!checkpoint) return;
  const head = await events.headPosition();
  if (head && comparePositions(checkpoint, head) <= 0) return;
  const file = events instanceof SqliteEventStore ? events.file : where;
  const fix =
    readModel instanceof SqliteProjectionStore
      ? `Restore ${file} from a backup; if starting over was intended, delete ${readModel.file} too.`
      : 'Restore the events from a backup; if starting over was intended, drop the read model tables too.';
  throw new StoreFileError(
    file,
    `the events in ${where} end at ${head ? head.commit : 'nothing'}, but the read model has applied up to ${checkpoint.commit}: the events were replaced, emptied or lost. ${fix}`,
  );
};

/**
 * Brings the read model up to the events' current head before a tool reads it. Where the read
 * model is shared, only the lock holder writes it: the tool catches up itself if it can take the
 * lock (no server is running), else it waits for the running projection.
 */
export const readModelUpToDate = async (stores: OpenedStores, timeoutMs = 120_000): Promise<void> => {
  if (!stores.shared) return catchUpReadModel(stores.events, stores.readModel, timeoutMs);
  const lease = await stores.shared.lock.tryAcquire();
  if (lease) {
    try {
      return await catchUpReadModel(stores.events, stores.readModel, timeoutMs);
    } finally {
      await lease.release();
    }
  }
  const head = await stores.events.headPosition({ streamPrefixes: [INSTANCE_STREAM_PREFIX] });
  if (head) await stores.shared.watcher.waitFor(head, timeoutMs);
};
