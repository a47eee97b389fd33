import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventStoreDBEventStore, InMemoryEventStore, SqliteEventStore, SqliteProjectionStore, type EventStore, type ProjectionStore } from '../../src/index.js';
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

/** The embedded default: events and read model in SQLite files in a fresh data directory. */
export const sqliteAdapter: StoreAdapter = {
  name: 'SQLite',
  async create() {
    const dir = mkdtempSync(join(tmpdir(), 'smtp-sqlite-'));
    const store = SqliteEventStore.open(dir, { pollIntervalMs: 20 });
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

/** Every adapter the contract suites run against. */
export const storeAdapters: StoreAdapter[] = [inMemoryAdapter, sqliteAdapter, ...eventStoreDBAdapters];
