import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InMemoryProjectionStore, PostgresProjectionStore, SqliteProjectionStore } from '../support/everything.js';
import { freshPostgresSchema, postgresSkipReason } from '../support/adapters.js';
import { projectionStoreContract, type ProjectionStoreAdapter } from './projection-store.contract.js';

const adapters: ProjectionStoreAdapter[] = [
  { name: 'in-memory', create: async () => ({ store: new InMemoryProjectionStore(), close: async () => undefined }) },
  {
    name: 'SQLite',
    async create() {
      const dir = mkdtempSync(join(tmpdir(), 'read-model-'));
      const store = SqliteProjectionStore.open(dir);
      return {
        store,
        close: async () => {
          await store.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  },
  ...(postgresSkipReason
    ? []
    : [
        {
          name: 'PostgreSQL',
          async create() {
            const db = await freshPostgresSchema(2);
            return { store: await PostgresProjectionStore.open(db.pool, { schema: db.schema }), close: () => db.drop() };
          },
        },
      ]),
];

for (const adapter of adapters) projectionStoreContract(adapter);
