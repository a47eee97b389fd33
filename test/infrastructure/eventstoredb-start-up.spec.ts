/**
 * Start-up and rebuild on EventStoreDB wait for what the projection's own subscription reports, and
 * decide whether a first instance is needed from the read model, not from the head of `$all`.
 * Against the in-process server running 24.2's and 23.10's checkpoint rules.
 */
import { describe, expect, it } from 'vitest';
import { EventStoreDBEventStore, SubscriptionRefusedError, TOKENS, type ProjectionRunner } from '../support/everything.js';
import { esdbConnectionString, freshPostgresSchema, postgresSkipReason, testDatabaseUrl } from '../support/adapters.js';
import { InProcessEventStoreDB, type ServerRules } from '../support/esdb/in-process-eventstoredb.js';
import { startTestServer } from '../support/http-server.js';

const claim = (domain: string) => ({
  id: '00000000-0000-4000-8000-0000000c1a1e',
  type: 'instance.domain.claimed',
  data: { domain, instanceId: 'someone' },
  metadata: { instanceId: 'someone', editorUserId: 'SYSTEM', createdAt: '2024-06-11T10:37:15.680Z', correlationId: 'c', causationId: 'c', schemaVersion: 1 },
});

const instancesAdded = (esdb: InProcessEventStoreDB) => esdb.events.filter((e) => e.type === 'instance.added').length;

describe.skipIf(esdbConnectionString !== undefined)('start-up and rebuild on EventStoreDB', () => {
  it.each(['24.2', '23.10'] as ServerRules[])(
    'start up and rebuild when the last user event is in a stream the projection does not follow (%s rules)',
    async (rules) => {
      const esdb = await new InProcessEventStoreDB({ mode: 'batch-append', rules }).start();
      try {
        const first = await startTestServer({ EVENTSTORE_CONNECTION_STRING: esdb.connectionString });
        await first.close();
        const store = EventStoreDBEventStore.fromConnectionString(esdb.connectionString);
        await store.appendToStream('domain-example.com', [claim('example.com')], 'no_stream');
        await store.close();
        expect(esdb.events.at(-1)!.streamId).toBe('domain-example.com');

        // A fresh data directory: the read model is built from the events again.
        const second = await startTestServer({ EVENTSTORE_CONNECTION_STRING: esdb.connectionString });
        try {
          expect(second.logs.some((l) => l.includes('created the first instance'))).toBe(false);
          await second.app.container.get<ProjectionRunner>(TOKENS.ProjectionRunner).rebuild();
        } finally {
          await second.close();
        }
        expect(instancesAdded(esdb)).toBe(1);
      } finally {
        await esdb.stop();
      }
    },
    15_000,
  );

  it.skipIf(postgresSkipReason !== undefined)(
    'starts replicas sharing a PostgreSQL read model when the last user event is in a stream the projection does not follow',
    async () => {
      const esdb = await new InProcessEventStoreDB({ mode: 'batch-append' }).start();
      const db = await freshPostgresSchema(2);
      const env = { EVENTSTORE_CONNECTION_STRING: esdb.connectionString, DATABASE_URL: testDatabaseUrl, DATABASE_SCHEMA: db.schema };
      try {
        const first = await startTestServer(env);
        await first.close();
        const store = EventStoreDBEventStore.fromConnectionString(esdb.connectionString);
        await store.appendToStream('domain-example.com', [claim('example.com')], 'no_stream');
        await store.close();
        const second = await startTestServer(env);
        await second.close();
        expect(second.logs.some((l) => l.includes('first instance'))).toBe(false);
        expect(instancesAdded(esdb)).toBe(1);
      } finally {
        await db.drop();
        await esdb.stop();
      }
    },
    15_000,
  );

  it('restarts against a store whose newest 300 events are system events without creating another first instance', async () => {
    const esdb = await new InProcessEventStoreDB({ mode: 'batch-append' }).start();
    try {
      const first = await startTestServer({ EVENTSTORE_CONNECTION_STRING: esdb.connectionString });
      await first.close();
      esdb.log.writeSystemEvents(300);
      const store = EventStoreDBEventStore.fromConnectionString(esdb.connectionString);
      expect(await store.headPosition()).toBeDefined();
      await store.close();
      const second = await startTestServer({ EVENTSTORE_CONNECTION_STRING: esdb.connectionString });
      await second.close();
      expect(second.logs.some((l) => l.includes('first instance'))).toBe(false);
      expect(instancesAdded(esdb)).toBe(1);
    } finally {
      await esdb.stop();
    }
  }, 15_000);
});

describe.skipIf(esdbConnectionString !== undefined)('a server that may not read $all', () => {
  it('refuses to start with the refusal instead of retrying until the start-up timeout', async () => {
    const esdb = await new InProcessEventStoreDB({ mode: 'batch-append' }).start();
    esdb.denyAll = true;
    try {
      const started = Date.now();
      await expect(startTestServer({ EVENTSTORE_CONNECTION_STRING: esdb.connectionString })).rejects.toBeInstanceOf(SubscriptionRefusedError);
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(instancesAdded(esdb)).toBe(0);
    } finally {
      await esdb.stop();
    }
  });
});
