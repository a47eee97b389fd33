import { afterEach, describe, expect, it } from 'vitest';
import { EventStoreDBEventStore, InMemoryEventStore, WrongExpectedRevisionError, type EventStore, type NewEvent } from '../support/everything.js';
import { esdbConnectionString, eventStoreDBAdapters } from '../support/adapters.js';
import { InProcessEventStoreDB } from '../support/esdb/in-process-eventstoredb.js';
import { createHarness, owner, seedRequest, SequentialIds } from '../support/fixtures.js';
import { startTestServer } from '../support/http-server.js';

const event = (id: string, type = 'test.happened'): NewEvent => ({
  id,
  type,
  data: { n: 1 },
  metadata: { instanceId: 'i', editorUserId: 'u', createdAt: '2024-06-11T10:37:15.680Z', correlationId: 'c', causationId: 'c', schemaVersion: 1 },
});

describe.skipIf(esdbConnectionString !== undefined)('the in-process EventStoreDB server (its semantics, through the real client)', () => {
  let server: InProcessEventStoreDB;
  let store: EventStoreDBEventStore;
  afterEach(async () => {
    await store.close();
    await server.stop();
  });
  const start = async (mode: 'batch-append' | 'append-only') => {
    server = await new InProcessEventStoreDB({ mode }).start();
    store = EventStoreDBEventStore.fromConnectionString(server.connectionString);
  };

  it('advertises BatchAppend through ServerFeatures, so the client uses BatchAppend', async () => {
    await start('batch-append');
    await store.appendToStream('instance-1', [event('00000000-0000-4000-8000-000000000001')], 'no_stream');
    expect(server.calls).toMatchObject({ batchAppend: 1, append: 0 });
  });

  it('answers ServerFeatures with UNIMPLEMENTED in append-only mode, so the client uses Append', async () => {
    await start('append-only');
    await store.appendToStream('instance-1', [event('00000000-0000-4000-8000-000000000001')], 'no_stream');
    expect(server.calls).toMatchObject({ batchAppend: 0, append: 1, supportedMethods: 0 });
  });

  it.each(['batch-append', 'append-only'] as const)('reports a wrong expected version as the port’s conflict (%s)', async (mode) => {
    await start(mode);
    await store.appendToStream('instance-1', [event('00000000-0000-4000-8000-000000000001')], 'no_stream');
    const error = await store.appendToStream('instance-1', [event('00000000-0000-4000-8000-000000000002')], 'no_stream').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WrongExpectedRevisionError);
    expect(error).toMatchObject({ actual: 0n });
  });

  it('gives each event of a multi-event append its own position, commit equal to prepare, and reports the last', async () => {
    await start('batch-append');
    const ids = ['00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000002', '00000000-0000-4000-8000-000000000003'];
    const result = await store.appendToStream('instance-1', ids.map((id) => event(id)), 'no_stream');
    const events = (await store.readStream('instance-1')).events;
    expect(events).toHaveLength(3);
    for (const e of events) expect(e.position.commit).toBe(e.position.prepare);
    expect(events[0]!.position.commit).toBeLessThan(events[1]!.position.commit);
    expect(events[1]!.position.commit).toBeLessThan(events[2]!.position.commit);
    expect(result.position).toEqual(events[2]!.position);
  });

  it('starts its log with a system event that neither subscriptions nor the head position show', async () => {
    await start('batch-append');
    expect(server.events[0]?.type).toBe('$settings');
    expect(await store.headPosition()).toBeUndefined();
    const abort = new AbortController();
    const seen: string[] = [];
    for await (const item of store.subscribeToAll({ signal: abort.signal })) {
      if (item.kind === 'event') seen.push(item.event.type);
      if (item.kind === 'caught-up') break;
    }
    abort.abort();
    expect(seen).toEqual([]);
  });

});

describe('the same request on every store', () => {
  it('gives the same details response on the in-memory store and on EventStoreDB (ids and times injected)', async () => {
    const run = async (events: EventStore) => {
      const h = createHarness({ events, ids: new SequentialIds() });
      const instanceId = await h.newInstance('acme');
      const response = await h.addSmtpConfig.execute({ principal: owner(instanceId), instanceId, body: seedRequest });
      await h.close();
      return response;
    };
    const adapter = eventStoreDBAdapters[0]!;
    const esdb = await adapter.create();
    const onEventStoreDB = await run(esdb.store);
    await esdb.close();
    const inMemory = await run(new InMemoryEventStore());
    if (esdb.shared) expect(onEventStoreDB.details.sequence).toBe(inMemory.details.sequence);
    else expect(onEventStoreDB).toEqual(inMemory);
  });
});

describe('selecting EventStoreDB by configuration', () => {
  it.skipIf(esdbConnectionString !== undefined)('EVENTSTORE_CONNECTION_STRING switches the server from the embedded store to EventStoreDB', async () => {
    const esdb = await new InProcessEventStoreDB({ mode: 'batch-append' }).start();
    const server = await startTestServer({ EVENTSTORE_CONNECTION_STRING: esdb.connectionString });
    try {
      expect(server.logs.some((l) => l.includes('events in EventStoreDB'))).toBe(true);
      const instanceId = await server.firstInstanceId();
      const res = await server.post(seedRequest, { token: await server.token({ instanceId, roles: ['IAM_OWNER'] }) });
      expect(res.status).toBe(200);
      expect(esdb.events.filter((e) => e.type === 'instance.smtp.config.added')).toHaveLength(1);
    } finally {
      await server.close();
      await esdb.stop();
    }
  });
});
