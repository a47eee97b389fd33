import { InMemoryEventStore, type EventStore } from '../../src/index.js';

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

/** Every adapter the contract suites run against. */
export const storeAdapters: StoreAdapter[] = [inMemoryAdapter];
