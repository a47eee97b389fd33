import { describe, expect, it } from 'vitest';
import {
  catchUpReadModel,
  InMemoryEventStore,
  InMemoryProjectionStore,
  smtpConfigProjection,
  type EventStore,
  type NewEvent,
  type SubscriptionItem,
} from '../support/everything.js';

let n = 0;
const instanceAdded = (instanceId: string): NewEvent => ({
  id: `00000000-0000-4000-9000-${(++n).toString(16).padStart(12, '0')}`,
  type: 'instance.added',
  data: { name: instanceId },
  metadata: { instanceId, editorUserId: 'u', createdAt: '2024-06-11T10:37:15.680Z', correlationId: 'c', causationId: 'c', schemaVersion: 1 },
});

/** A store with a head but a feed that never delivers anything; it keeps the signals it was given. */
const silentStore = (signals: (AbortSignal | undefined)[] = []): EventStore => {
  const store = new InMemoryEventStore();
  return {
    readStream: (s) => store.readStream(s),
    appendToStream: (s, e, x) => store.appendToStream(s, e, x),
    headPosition: async () => ({ commit: 9n, prepare: 9n }),
    close: () => store.close(),
    async *subscribeToAll(options): AsyncIterable<SubscriptionItem> {
      signals.push(options?.signal);
      await new Promise<void>((resolve) => options?.signal?.addEventListener('abort', () => resolve(), { once: true }));
    },
  };
};

describe('catching a read model up for a tool', () => {
  it('projects the instance streams up to the head, then stops', async () => {
    const events = new InMemoryEventStore();
    await events.appendToStream('instance-1', [instanceAdded('1')], 'no_stream');
    await events.appendToStream('other-1', [instanceAdded('other')], 'no_stream');
    const readModel = new InMemoryProjectionStore();
    await catchUpReadModel(events, readModel);
    expect(await readModel.instanceById('1')).toMatchObject({ name: '1' });
    expect(await readModel.instanceById('other')).toBeUndefined();
    expect(await readModel.checkpoint()).toEqual(await events.headPosition());

    await events.appendToStream('instance-2', [instanceAdded('2')], 'no_stream');
    await new Promise((r) => setTimeout(r, 20));
    expect(await readModel.instanceById('2')).toBeUndefined();
  });

  it('returns at once on an empty store, leaving the read model as it is', async () => {
    const readModel = new InMemoryProjectionStore();
    await catchUpReadModel(new InMemoryEventStore(), readModel, 1);
    expect(await readModel.snapshot()).toEqual(await new InMemoryProjectionStore().snapshot());
  });

  it('gives up with Unavailable PROJ-wait-7t2k after its timeout, and stops the projection', async () => {
    const signals: (AbortSignal | undefined)[] = [];
    await expect(catchUpReadModel(silentStore(signals), new InMemoryProjectionStore(), 30)).rejects.toMatchObject({
      kind: 'Unavailable',
      id: 'PROJ-wait-7t2k',
    });
    expect(signals).toHaveLength(1);
    expect(signals[0]?.aborted).toBe(true);
  });

  it('builds a runner that is not started and reports feed failures to onError', async () => {
    const errors: unknown[] = [];
    const failure = new Error('feed down');
    const failing: EventStore = {
      ...silentStore(),
      // eslint-disable-next-line require-yield
      async *subscribeToAll(): AsyncIterable<SubscriptionItem> {
        throw failure;
      },
    };
    const runner = smtpConfigProjection(failing, new InMemoryProjectionStore(), { onError: (e) => errors.push(e) });
    expect(runner.running).toBe(false);
    runner.start();
    for (let i = 0; i < 100 && errors.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
    await runner.stop();
    expect(errors[0]).toBe(failure);
  });
});
