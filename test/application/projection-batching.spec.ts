import { describe, expect, it } from 'vitest';
import {
  InMemoryEventStore,
  InMemoryProjectionStore,
  ProjectionRunner,
  projectEvent,
  type NewEvent,
  type PositionedChanges,
} from '../support/everything.js';

/** A read model that records the size of every batch it is asked to apply. */
class CountingReadModel extends InMemoryProjectionStore {
  readonly batches: number[] = [];
  override async applyBatch(batch: readonly PositionedChanges[]): Promise<void> {
    this.batches.push(batch.length);
    return super.applyBatch(batch);
  }
}

let n = 0;
const instanceAdded = (): NewEvent => ({
  id: `00000000-0000-4000-8000-${(++n).toString(16).padStart(12, '0')}`,
  type: 'instance.added',
  data: { name: `i${n}` },
  metadata: { instanceId: `i${n}`, editorUserId: 'u', createdAt: '2024-06-11T10:37:15.680Z', correlationId: 'c', causationId: 'c', schemaVersion: 1 },
});

describe('projection runner batching', () => {
  it('catches up in batches of at most maxBatchSize, one atomic apply each', async () => {
    const events = new InMemoryEventStore();
    for (let i = 0; i < 1_201; i++) await events.appendToStream(`instance-b${i}`, [instanceAdded()], 'no_stream');
    const target = new CountingReadModel();
    const runner = new ProjectionRunner(events, target, { handler: projectEvent, streamPrefixes: ['instance-'], maxBatchSize: 500 });
    runner.start();
    await runner.waitFor((await events.headPosition())!, 5_000);
    await runner.stop();
    expect(target.batches).toEqual([500, 500, 201]);
    expect(await target.instanceById(`i${n}`)).toMatchObject({ name: `i${n}` });
  });

  it('applies a burst of live appends together, and a lone live append at once', async () => {
    const events = new InMemoryEventStore();
    const target = new CountingReadModel();
    const runner = new ProjectionRunner(events, target, { handler: projectEvent, streamPrefixes: ['instance-'] });
    runner.start();
    await new Promise((r) => setTimeout(r, 20)); // subscribed and caught up on the empty store
    const burst = await Promise.all(Array.from({ length: 32 }, (_, i) => events.appendToStream(`instance-live${i}`, [instanceAdded()], 'no_stream')));
    await runner.waitFor(burst.at(-1)!.position, 5_000);
    expect(target.batches).toEqual([32]);
    const lone = await events.appendToStream('instance-lone', [instanceAdded()], 'no_stream');
    await runner.waitFor(lone.position, 5_000);
    await runner.stop();
    expect(target.batches).toEqual([32, 1]);
  });
});

describe('projection runner progress', () => {
  it('counts the highest position of a batch, though a checkpoint after an event sorts before it', async () => {
    const event = { id: 'e', streamId: 'instance-x', revision: 0n, position: { commit: 10n, prepare: 10n }, type: 'instance.added', data: { name: 'x' }, metadata: { instanceId: 'x', editorUserId: 'u', createdAt: '2024-06-11T10:37:15.680Z', correlationId: 'c', causationId: 'c', schemaVersion: 1 } };
    const store = new InMemoryEventStore();
    store.subscribeToAll = async function* (options) {
      yield { kind: 'event', event };
      yield { kind: 'checkpoint', position: { commit: 10n, prepare: 0n } };
      yield { kind: 'caught-up' };
      await new Promise((r) => options?.signal?.addEventListener('abort', r));
    };
    const target = new InMemoryProjectionStore();
    const runner = new ProjectionRunner(store, target, { handler: projectEvent });
    runner.start();
    await runner.waitFor(event.position, 2_000);
    await runner.stop();
    expect(await target.checkpoint()).toEqual(event.position);
  });
});
