import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileEventStore, InMemoryEventStore, type EventStore } from '../../src/index.js';

/** One event store under test, with a way to make the server drop its subscriptions. */
export interface StoreUnderTest {
  readonly store: EventStore;
  /** Makes every open subscription fail, as a dropped connection would. */
  dropSubscriptions(): void;
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

export const fileAdapter: StoreAdapter = {
  name: 'embedded file',
  async create() {
    const dir = mkdtempSync(join(tmpdir(), 'smtp-events-'));
    const store = await FileEventStore.open(dir);
    return {
      store,
      dropSubscriptions: () => store.dropSubscriptions(),
      close: async () => {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
};

/** Every adapter the contract suites run against. */
export const storeAdapters: StoreAdapter[] = [inMemoryAdapter, fileAdapter];
