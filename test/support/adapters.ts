import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import {
  EventStoreDBEventStore,
  InMemoryEventStore,
  PostgresEventStore,
  PostgresProjectionStore,
  SqliteEventStore,
  SqliteProjectionStore,
  type EventStore,
  type ProjectionStore,
} from './everything.js';
import { InProcessEventStoreDB } from './esdb/in-process-eventstoredb.js';

/** One event store under test, with a way to make the server drop its subscriptions. */
export interface StoreUnderTest {
  readonly store: EventStore;
  /** Makes every open subscription fail, as a dropped connection would. */
  dropSubscriptions(): void;
  /** Whether the server outlives the test (a real EventStoreDB): then ids must not repeat across runs. */
  readonly shared?: boolean;
  /** The read model that goes with this store, when it has its own (else the in-memory one). */
  readonly readModel?: ProjectionStore;
  /** PostgreSQL and in memory: whether appends project inline (default true, as the server's PostgreSQL appends do). */
  readonly inline?: boolean;
  close(): Promise<void>;
}

export interface StoreAdapter {
  readonly name: string;
  create(): Promise<StoreUnderTest>;
}

export const inMemoryAdapter: StoreAdapter = {
  name: 'in-memory',
  async create() {
    const store = new InMemoryEventStore();
    return { store, dropSubscriptions: () => store.dropSubscriptions(), close: () => store.close() };
  },
};

/**
 * The embedded default: events and read model in SQLite files in a fresh data directory, the events
 * made durable as the server makes them (flushed on the thread pool; the tools' synchronous=FULL is
 * covered by sqlite-store.spec.ts).
 */
export const sqliteAdapter: StoreAdapter = {
  name: 'SQLite',
  async create() {
    const dir = mkdtempSync(join(tmpdir(), 'smtp-sqlite-'));
    const store = SqliteEventStore.open(dir, { pollIntervalMs: 20, durability: 'thread-pool' });
    const readModel = SqliteProjectionStore.open(dir);
    return {
      store,
      readModel,
      dropSubscriptions: () => store.dropSubscriptions(),
      close: async () => {
        await store.close();
        await readModel.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
};

const inProcessEventStoreDB = (mode: 'batch-append' | 'append-only'): StoreAdapter => ({
  name: `EventStoreDB (in-process server, ${mode === 'batch-append' ? 'BatchAppend' : 'Append'})`,
  async create() {
    const server = await new InProcessEventStoreDB({ mode }).start();
    const store = EventStoreDBEventStore.fromConnectionString(server.connectionString);
    return {
      store,
      dropSubscriptions: () => server.dropSubscriptions(),
      close: async () => {
        await store.close();
        await server.stop();
      },
    };
  },
});

/**
 * A real EventStoreDB when EVENTSTORE_CONNECTION_STRING is set. It cannot be told to drop a
 * subscription, so the drop tests skip on it (and say so).
 */
const realEventStoreDB = (connectionString: string): StoreAdapter => ({
  name: 'EventStoreDB (real server from EVENTSTORE_CONNECTION_STRING)',
  async create() {
    const store = EventStoreDBEventStore.fromConnectionString(connectionString);
    return { store, shared: true, dropSubscriptions: () => undefined, close: () => store.close() };
  },
});

export const esdbConnectionString = process.env.EVENTSTORE_CONNECTION_STRING;

/** The EventStoreDB adapters: a real server when one is configured, else the in-process server through both append paths. */
export const eventStoreDBAdapters: StoreAdapter[] = esdbConnectionString
  ? [realEventStoreDB(esdbConnectionString)]
  : [inProcessEventStoreDB('batch-append'), inProcessEventStoreDB('append-only')];

if (!esdbConnectionString) {
  console.info('EventStoreDB suites run against the in-process server (test/support/esdb); set EVENTSTORE_CONNECTION_STRING to use a real one.');
}

/**
 * PostgreSQL: TEST_DATABASE_URL, else the machine's server as DEVELOPERS.md describes it. Each store
 * under test gets a schema of its own, dropped afterwards, so parallel runs never collide.
 */
export const testDatabaseUrl = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

const postgresUnreachable = async (): Promise<string | undefined> => {
  const client = new pg.Client({ connectionString: testDatabaseUrl, connectionTimeoutMillis: 3_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message || String((error as NodeJS.ErrnoException).code) : String(error);
  } finally {
    await client.end().catch(() => undefined);
  }
};

/** Why the PostgreSQL suites cannot run here, or undefined when they can. On CI this is a failure, not a skip. */
export const postgresSkipReason: string | undefined = await (async () => {
  const problem = await postgresUnreachable();
  if (!problem) return undefined;
  const reason = `PostgreSQL at ${testDatabaseUrl.replace(/\/\/[^@]*@/, '//')} is not reachable (${problem}); set TEST_DATABASE_URL or start it (see README)`;
  if (process.env.CI) throw new Error(`${reason}. CI must run the PostgreSQL suites.`);
  console.info(`PostgreSQL suites skipped: ${reason}.`);
  return reason;
})();

let schemas = 0;
/** A fresh schema on the test database, with a pool; dropped with everything in it on close. */
export const freshPostgresSchema = async (max = 8) => {
  const pool = new pg.Pool({ connectionString: testDatabaseUrl, max });
  const schema = `t_${process.pid}_${Date.now().toString(36)}_${++schemas}`;
  return {
    pool,
    schema,
    async drop() {
      await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
      await pool.end();
    },
  };
};

export const postgresAdapter: StoreAdapter = {
  name: 'PostgreSQL',
  async create() {
    const db = await freshPostgresSchema();
    const store = await PostgresEventStore.open(db.pool, { schema: db.schema, pollIntervalMs: 50 });
    const readModel = await PostgresProjectionStore.open(db.pool, { schema: db.schema });
    return {
      store,
      readModel,
      dropSubscriptions: () => store.dropSubscriptions(),
      close: async () => {
        await store.close();
        await db.drop();
      },
    };
  },
};

/** Every adapter the contract suites run against. */
export const storeAdapters: StoreAdapter[] = [inMemoryAdapter, sqliteAdapter, ...(postgresSkipReason ? [] : [postgresAdapter]), ...eventStoreDBAdapters];

/**
 * PostgreSQL with the read model left to the projection runner alone, as it is after a start, during
 * a rebuild, or after another writer's append that did not project inline.
 */
export const postgresRunnerOnlyAdapter: StoreAdapter = {
  name: 'PostgreSQL, runner only',
  async create() {
    return { ...(await postgresAdapter.create()), inline: false };
  },
};

/** The in-memory store with the read model left to the projection runner alone (see createHarness's `inline`). */
export const inMemoryRunnerOnlyAdapter: StoreAdapter = {
  name: 'in-memory, runner only',
  async create() {
    return { ...(await inMemoryAdapter.create()), inline: false };
  },
};

/** The use cases' suites: every store, and PostgreSQL and in memory once more without the inline projection. */
export const applicationAdapters: StoreAdapter[] = [...storeAdapters, inMemoryRunnerOnlyAdapter, ...(postgresSkipReason ? [] : [postgresRunnerOnlyAdapter])];

/**
 * A PostgreSQL schema of its own with an event store and a read model in it, and a harness of the
 * use cases on them (projecting inline, as the server does); `close` stops them and drops the schema.
 */
export const postgresHarness = async (options: { poolSize?: number; pollIntervalMs?: number } = {}) => {
  const { createHarness } = await import('./fixtures.js');
  const db = await freshPostgresSchema(options.poolSize ?? 8);
  const events = await PostgresEventStore.open(db.pool, { schema: db.schema, pollIntervalMs: options.pollIntervalMs ?? 50 });
  const readModel = await PostgresProjectionStore.open(db.pool, { schema: db.schema });
  const h = createHarness({ events, readModel });
  return {
    db,
    events,
    readModel,
    h,
    async close() {
      await h.close().catch(() => undefined);
      await events.close();
      await db.drop();
    },
  };
};
