import { InMemoryEventStore } from './everything.js';
import type { StoreAdapter } from './adapters.js';

export type { StoreAdapter, StoreUnderTest } from './adapters.js';

/**
 * What `vitest.mutation.config.ts` puts in place of `adapters.ts`: the in-memory store only, without
 * loading the EventStoreDB client or the in-process server.
 */
export const inMemoryAdapter: StoreAdapter = {
  name: 'in-memory',
  async create() {
    const store = new InMemoryEventStore();
    return { store, dropSubscriptions: () => store.dropSubscriptions(), close: () => store.close() };
  },
};

export const storeAdapters: StoreAdapter[] = [inMemoryAdapter];

/** The use cases' suites: the in-memory store with its inline projection, and with the runner alone. */
export const applicationAdapters: StoreAdapter[] = [
  inMemoryAdapter,
  {
    name: 'in-memory, runner only',
    async create() {
      return { ...(await inMemoryAdapter.create()), inline: false };
    },
  },
];
