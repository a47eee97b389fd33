import { describe, expect, it } from 'vitest';
import { InMemoryEventStore, InMemoryProjectionStore, ProjectionRunner, projectEvent, type NewEvent, type PositionedChanges } from '../support/everything.js';

/**
 * While catching up, a full batch is applied while the feed reads the next one (flushFull): the
 * batches must still be applied one at a time, in order, each once, a failure must stop the ones
 * after it, and stop() must return only once nothing is being applied.
 */
let n = 0;
const instanceAdded = (): NewEvent => ({
  id: `00000000-0000-4000-8000-${(0xd00000000000 + ++n).toString(16)}`,
  type: 'instance.added',
  data: { name: `o${n}` },
  metadata: { instanceId: `o${n}`, editorUserId: 'u', createdAt: '2024-06-11T10:37:15.680Z', correlationId: 'c', causationId: 'c', schemaVersion: 1 },
});

/** A read model whose batches take a few turns of the event loop, recording overlaps and order. */
class Slow extends InMemoryProjectionStore {
  readonly applied: bigint[] = [];
  readonly errors: string[] = [];
  active = 0;
  overlapped = false;
  failAt: bigint | undefined;
  override async applyBatch(batch: readonly PositionedChanges[]): Promise<void> {
    this.active++;
    if (this.active > 1) this.overlapped = true;
    try {
      for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
      if (this.failAt !== undefined && batch.some((b) => b.position.commit === this.failAt)) {
        this.failAt = undefined;
        throw new Error('disk full');
      }
      const before = await this.checkpoint();
      await super.applyBatch(batch);
      for (const b of batch) if (!before || b.position.commit > before.commit) this.applied.push(b.position.commit);
    } finally {
      this.active--;
    }
  }
}

describe('projection runner: full catch-up batches overlapping the feed', () => {
  const seeded = async (count: number) => {
    const events = new InMemoryEventStore();
    for (let i = 0; i < count; i++) await events.appendToStream(`instance-o${i}-${n}`, [instanceAdded()], 'no_stream');
    return events;
  };

  it('applies every batch once, one at a time and in order', async () => {
    for (let round = 0; round < 20; round++) {
      const events = await seeded(40);
      const target = new Slow();
      const runner = new ProjectionRunner(events, target, { handler: projectEvent, streamPrefixes: ['instance-'], maxBatchSize: 3 });
      runner.start();
      await runner.waitForCaughtUp(5_000);
      await runner.stop();
      expect(target.overlapped).toBe(false);
      expect(target.applied).toEqual(Array.from({ length: 40 }, (_, i) => BigInt(i)));
    }
  });

  it('applies nothing after a failed batch until it has resubscribed, then each event once', async () => {
    for (let round = 0; round < 20; round++) {
      const events = await seeded(40);
      const target = new Slow();
      target.failAt = BigInt(3 + (round % 12));
      const errors: unknown[] = [];
      const runner = new ProjectionRunner(events, target, { handler: projectEvent, streamPrefixes: ['instance-'], maxBatchSize: 3, initialBackoffMs: 1, onError: (e) => errors.push(e) });
      runner.start();
      await runner.waitFor((await events.headPosition())!, 5_000);
      await runner.stop();
      expect(errors.map((e) => (e as Error).message)).toEqual(['disk full']);
      expect(target.overlapped).toBe(false);
      expect(target.applied).toEqual(Array.from({ length: 40 }, (_, i) => BigInt(i)));
    }
  });

  it('applies everything before an event the handler refuses, and nothing after it, though batches overlap', async () => {
    for (let round = 0; round < 10; round++) {
      const events = new InMemoryEventStore();
      const bad = 10 + round;
      for (let i = 0; i < 40; i++) {
        const event = instanceAdded();
        await events.appendToStream(`instance-r${round}-${i}`, [i === bad ? { ...event, data: { name: 7 } } : event], 'no_stream');
      }
      const target = new Slow();
      const runner = new ProjectionRunner(events, target, { handler: projectEvent, streamPrefixes: ['instance-'], maxBatchSize: 3, initialBackoffMs: 1 });
      runner.start();
      await expect(runner.waitForCaughtUp(5_000)).rejects.toMatchObject({ id: 'EVENT-DEC-7m3q' });
      await runner.stop();
      expect(target.overlapped).toBe(false);
      expect(target.applied).toEqual(Array.from({ length: bad }, (_, i) => BigInt(i)));
      expect((await target.checkpoint())?.commit).toBe(BigInt(bad - 1));
    }
  });

  it('returns from stop() only once no batch is being applied, and applies none after it', async () => {
    for (let round = 0; round < 20; round++) {
      const events = await seeded(60);
      const target = new Slow();
      const runner = new ProjectionRunner(events, target, { handler: projectEvent, streamPrefixes: ['instance-'], maxBatchSize: 3 });
      runner.start();
      for (let i = 0; i < 5 + round; i++) await new Promise((r) => setImmediate(r));
      await runner.stop();
      expect(target.active).toBe(0);
      const appliedAtStop = target.applied.length;
      for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
      expect(target.applied.length).toBe(appliedAtStop);
      expect(target.applied).toEqual(Array.from({ length: appliedAtStop }, (_, i) => BigInt(i)));
      expect(runner.position?.commit ?? -1n).toBe(BigInt(appliedAtStop - 1));
    }
  });
});
