import { describe, expect, it } from 'vitest';
import {
  CheckpointWatcher,
  InMemoryEventStore,
  InMemoryProjectionStore,
  INSTANCE_STREAM_PREFIX,
  ProjectionRunner,
  projectEvent,
  type EventMetadata,
  type GlobalPosition,
  type PositionedChanges,
  type RecordedEvent,
} from '../support/everything.js';
import { testMetadata as metadata } from '../support/fixtures.js';

/**
 * What the runner and the checkpoint watcher do with a report that the read model already holds a
 * position because an append projected inline (PostgresEventStore.projectInline reports them).
 */
let ids = 0;
const addInstance = (events: InMemoryEventStore, name: string) =>
  events.appendToStream(
    `${INSTANCE_STREAM_PREFIX}${name}`,
    [{ id: `00000000-0000-4000-8000-${(++ids).toString(16).padStart(12, '0')}`, type: 'instance.added', data: { name }, metadata: metadata(name) }],
    'no_stream',
  );

/** The in-memory read model, counting what the runner hands it and which events its handler saw. */
const counted = () => {
  const target = new InMemoryProjectionStore();
  const batches: PositionedChanges[][] = [];
  const applyBatch = target.applyBatch.bind(target);
  target.applyBatch = (batch) => {
    batches.push([...batch]);
    return applyBatch(batch);
  };
  return { target, batches };
};

const settled = async <T>(p: Promise<T>) => {
  let done = false;
  void p.then(
    () => (done = true),
    () => (done = true),
  );
  await new Promise((r) => setTimeout(r, 20));
  return done;
};

describe('a position reached elsewhere (an inline projection)', () => {
  it('releases the waits up to it at once, and no wait beyond it', async () => {
    const events = new InMemoryEventStore();
    const runner = new ProjectionRunner(events, new InMemoryProjectionStore(), { handler: projectEvent });
    const at = (n: number): GlobalPosition => ({ commit: BigInt(n), prepare: BigInt(n) });
    const three = runner.waitFor(at(3), 5_000);
    const five = runner.waitFor(at(5), 200);
    runner.reached(at(4));
    expect(await settled(three)).toBe(true);
    await expect(five).rejects.toMatchObject({ id: 'PROJ-wait-7t2k' });
    await expect(runner.waitFor(at(2), 10)).resolves.toBeUndefined();
  });

  it('lets the runner skip those events: no handler call and no batch for the target, and the rest applied as ever', async () => {
    const events = new InMemoryEventStore();
    const { target, batches } = counted();
    const seen: bigint[] = [];
    const runner = new ProjectionRunner(events, target, {
      handler: (e: RecordedEvent) => {
        seen.push(e.position.commit);
        return projectEvent(e);
      },
    });
    await addInstance(events, 'a');
    const b = await addInstance(events, 'b');
    // The report comes before the feed brings a and b (an inline projection wrote them with their append).
    runner.reached(b.position);
    runner.start();
    await runner.waitForCaughtUp(5_000);
    expect(seen).toEqual([]);
    expect(batches).toEqual([]);

    const c = await addInstance(events, 'c');
    await runner.waitFor(c.position, 5_000);
    await runner.stop();
    expect(seen).toEqual([c.position.commit]);
    expect((await target.instanceById('c'))?.name).toBe('c');
  });

  it('ignores, after a rebuild, a report of an append from before it: the reset took that row', async () => {
    const events = new InMemoryEventStore();
    const { target } = counted();
    let lateReport: (() => void) | undefined;
    const runner = new ProjectionRunner(events, target, {
      handler: (e) => {
        lateReport?.();
        return projectEvent(e);
      },
    });
    await addInstance(events, 'a');
    const b = await addInstance(events, 'b');
    await runner.rebuild(5_000);
    // During the next rebuild's catch-up, a report arrives for b, projected inline before the reset.
    lateReport = () => runner.reached(b.position);
    await runner.rebuild(5_000);
    expect((await target.instanceById('a'))?.name).toBe('a');
    expect((await target.instanceById('b'))?.name).toBe('b');
  });

  it('keeps the checkpoint watcher at the highest position reported, whatever order the reports come in', async () => {
    let reads = 0;
    const watcher = new CheckpointWatcher(
      {
        checkpoint: async () => {
          reads++;
          return undefined;
        },
      },
      10_000,
    );
    watcher.reached({ commit: 7n, prepare: 7n });
    watcher.reached({ commit: 5n, prepare: 5n });
    await expect(watcher.waitFor({ commit: 6n, prepare: 6n }, 50)).resolves.toBeUndefined();
    watcher.reached({ commit: 9n, prepare: 9n });
    await expect(watcher.waitFor({ commit: 9n, prepare: 9n }, 50)).resolves.toBeUndefined();
    expect(reads).toBe(0);
  });

  it('lets the checkpoint watcher answer without reading the checkpoint', async () => {
    let reads = 0;
    const watcher = new CheckpointWatcher(
      {
        checkpoint: async () => {
          reads++;
          return undefined;
        },
      },
      10_000,
    );
    const position = { commit: 7n, prepare: 7n };
    watcher.reached(position);
    await expect(watcher.waitFor({ commit: 6n, prepare: 6n }, 100)).resolves.toBeUndefined();
    await expect(watcher.waitFor(position, 100)).resolves.toBeUndefined();
    expect(reads).toBe(0);
    await expect(watcher.waitFor({ commit: 8n, prepare: 8n }, 50)).rejects.toMatchObject({ id: 'PROJ-wait-7t2k' });
    expect(reads).toBeGreaterThan(0);
  });
});
