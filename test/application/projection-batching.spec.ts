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

describe('projection runner: a live batch applied while the loop waits for the feed', () => {
  const caughtUp = async (runner: ProjectionRunner) => {
    runner.start();
    await runner.waitForCaughtUp(5_000);
  };

  it('applies a live event before the event loop takes another turn', async () => {
    const events = new InMemoryEventStore();
    const target = new CountingReadModel();
    const runner = new ProjectionRunner(events, target, { handler: projectEvent, streamPrefixes: ['instance-'] });
    await caughtUp(runner);
    let turned = false;
    setImmediate(() => (turned = true));
    const { position } = await events.appendToStream('instance-quick', [instanceAdded()], 'no_stream');
    await runner.waitFor(position, 5_000);
    const turnedBeforeApplied = turned;
    await runner.stop();
    expect(turnedBeforeApplied).toBe(false);
    expect(target.batches).toEqual([1]);
  });

  it('resubscribes from the checkpoint when such a batch fails, and applies each event once', async () => {
    const events = new InMemoryEventStore();
    let failNext = false;
    const applied: number[] = [];
    class FailingOnce extends InMemoryProjectionStore {
      override async applyBatch(batch: readonly PositionedChanges[]): Promise<void> {
        if (failNext) {
          failNext = false;
          throw new Error('disk full');
        }
        await super.applyBatch(batch);
        applied.push(...batch.map((b) => Number(b.position.commit)));
      }
    }
    const errors: unknown[] = [];
    const runner = new ProjectionRunner(events, new FailingOnce(), { handler: projectEvent, streamPrefixes: ['instance-'], initialBackoffMs: 1, onError: (e) => errors.push(e) });
    await caughtUp(runner);
    failNext = true;
    const first = await events.appendToStream('instance-f1', [instanceAdded()], 'no_stream');
    // With nothing more appended: the failure itself must wake the runner to resubscribe.
    await runner.waitFor(first.position, 2_000);
    const second = await events.appendToStream('instance-f2', [instanceAdded()], 'no_stream');
    await runner.waitFor(second.position, 5_000);
    await runner.stop();
    expect(errors.map((e) => (e as Error).message)).toEqual(['disk full']);
    expect(applied).toEqual([Number(first.position.commit), Number(second.position.commit)]);
  });

  it('stops only once the batch being applied is in', async () => {
    const events = new InMemoryEventStore();
    let release: () => void = () => undefined;
    let started = false;
    class Slow extends InMemoryProjectionStore {
      override async applyBatch(batch: readonly PositionedChanges[]): Promise<void> {
        started = true;
        await new Promise<void>((r) => (release = r));
        await super.applyBatch(batch);
      }
    }
    const target = new Slow();
    const runner = new ProjectionRunner(events, target, { handler: projectEvent, streamPrefixes: ['instance-'] });
    runner.start();
    await new Promise((r) => setTimeout(r, 20)); // caught up on the empty store
    await events.appendToStream('instance-slow', [instanceAdded()], 'no_stream');
    while (!started) await new Promise((r) => setImmediate(r));
    let stopped = false;
    const stopping = runner.stop().then(() => (stopped = true));
    await new Promise((r) => setTimeout(r, 20));
    const stoppedWhileApplying = stopped;
    release();
    await stopping;
    expect(stoppedWhileApplying).toBe(false);
    expect(await target.instanceById(`i${n}`)).toMatchObject({ name: `i${n}` });
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
