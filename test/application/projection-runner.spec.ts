import { afterEach, describe, expect, it } from 'vitest';
import {
  DomainError,
  InMemoryEventStore,
  InMemoryProjectionStore,
  INSTANCE_STREAM_PREFIX,
  ProjectionRunner,
  projectEvent,
  type EventStore,
  type GlobalPosition,
  type NewEvent,
  type ProjectionRunnerOptions,
  type ProjectionStore,
  type RecordedEvent,
  type SubscribeOptions,
  type SubscriptionItem,
} from '../support/everything.js';
import { ScriptedEventStore } from '../support/scripted-event-store.js';

let n = 0;
const instanceAdded = (instanceId: string): NewEvent => ({
  id: `00000000-0000-4000-8000-${(++n).toString(16).padStart(12, '0')}`,
  type: 'instance.added',
  data: { name: instanceId },
  metadata: { instanceId, editorUserId: 'u', createdAt: '2024-06-11T10:37:15.680Z', correlationId: 'c', causationId: 'c', schemaVersion: 1 },
});
const add = (events: EventStore, stream: string) => events.appendToStream(stream, [instanceAdded(stream.replace(/^instance-/, ''))], 'any');
const tick = (ms = 0) => new Promise((resolve) => setTimeout(resolve, ms));
const stillPending = async (promise: Promise<unknown>, ms = 30): Promise<boolean> =>
  Promise.race([promise.then(() => false), tick(ms).then(() => true)]);

const runners: ProjectionRunner[] = [];
const runnerOn = (events: EventStore, target: ProjectionStore, options: Partial<ProjectionRunnerOptions> = {}) => {
  const runner = new ProjectionRunner(events, target, { handler: projectEvent, streamPrefixes: [INSTANCE_STREAM_PREFIX], ...options });
  runners.push(runner);
  return runner;
};
afterEach(async () => {
  await Promise.all(runners.splice(0).map((r) => r.stop()));
});

/** A handler that records which events it was given. */
const recording = () => {
  const seen: string[] = [];
  const handler = (event: RecordedEvent) => {
    seen.push(event.streamId);
    return projectEvent(event);
  };
  return { seen, handler };
};

describe('projection runner: lifecycle', () => {
  it('runs between start and stop, and subscribes once however often it is started', async () => {
    const events = new ScriptedEventStore();
    const runner = runnerOn(events, new InMemoryProjectionStore());
    expect(runner.running).toBe(false);
    runner.start();
    runner.start();
    expect(runner.running).toBe(true);
    await tick(10);
    expect(events.subscriptions).toHaveLength(1);
    await runner.stop();
    expect(runner.running).toBe(false);
    await runner.stop();
  });

  it('projects nothing after it was stopped', async () => {
    const events = new InMemoryEventStore();
    const target = new InMemoryProjectionStore();
    const { seen, handler } = recording();
    const runner = runnerOn(events, target, { handler });
    runner.start();
    const first = await add(events, 'instance-1');
    await runner.waitFor(first.position, 2_000);
    await runner.stop();
    await add(events, 'instance-2');
    await tick(30);
    expect(seen).toEqual(['instance-1']);
    expect(await target.instanceById('2')).toBeUndefined();
    expect(runner.position).toEqual(first.position);
  });
});

describe('projection runner: resuming', () => {
  it('starts from the read model’s checkpoint and hands the handler only later events', async () => {
    const events = new ScriptedEventStore();
    const target = new InMemoryProjectionStore();
    await add(events, 'instance-1');
    const second = await add(events, 'instance-2');
    const first = runnerOn(events, target);
    first.start();
    await first.waitFor(second.position, 2_000);
    await first.stop();

    const { seen, handler } = recording();
    const resumed = runnerOn(events, target, { handler });
    resumed.start();
    await tick(10);
    expect(resumed.position).toEqual(second.position);
    expect(events.subscriptions.at(-1)!.after).toEqual(second.position);
    const third = await add(events, 'instance-3');
    await resumed.waitFor(third.position, 2_000);
    expect(seen).toEqual(['instance-3']);
  });

  it('follows only the streams it was given, and moves past the others through checkpoints', async () => {
    const events = new InMemoryEventStore();
    const target = new InMemoryProjectionStore();
    const { seen, handler } = recording();
    await add(events, 'instance-1');
    await add(events, 'other-1');
    const last = await add(events, 'other-2');
    const runner = runnerOn(events, target, { handler });
    runner.start();
    await runner.waitFor(last.position, 2_000);
    expect(seen).toEqual(['instance-1']);
    expect(runner.position).toEqual(last.position);
    expect(await target.checkpoint()).toEqual(last.position);
  });

  it('follows every stream when given no prefixes', async () => {
    const events = new InMemoryEventStore();
    const { seen, handler } = recording();
    await add(events, 'instance-1');
    const last = await add(events, 'other-1');
    const runner = new ProjectionRunner(events, new InMemoryProjectionStore(), { handler });
    runners.push(runner);
    runner.start();
    await runner.waitFor(last.position, 2_000);
    expect(seen).toEqual(['instance-1', 'other-1']);
  });

  it('moves on checkpoint items alone, with no event delivered', async () => {
    const checkpoint: GlobalPosition = { commit: 40n, prepare: 39n };
    const feed = new ScriptedFeed([[{ kind: 'checkpoint', position: checkpoint }, { kind: 'caught-up' }]]);
    const target = new InMemoryProjectionStore();
    const runner = runnerOn(feed, target);
    runner.start();
    await runner.waitFor(checkpoint, 2_000);
    expect(runner.position).toEqual(checkpoint);
    expect(await target.checkpoint()).toEqual(checkpoint);
  });
});

describe('projection runner: waiting for a position', () => {
  it('resolves at once for a position already processed, and when the position itself is reached', async () => {
    const events = new InMemoryEventStore();
    const runner = runnerOn(events, new InMemoryProjectionStore());
    runner.start();
    const first = await add(events, 'instance-1');
    const waiting = runner.waitFor(first.position, 2_000);
    await waiting;
    await runner.waitFor(first.position, 2_000);
    await runner.waitFor({ commit: 0n, prepare: 0n }, 2_000);
    expect(runner.pendingWaits).toBe(0);
  });

  it('resolves each waiter when its own position is reached, not before', async () => {
    const events = new InMemoryEventStore();
    const runner = runnerOn(events, new InMemoryProjectionStore());
    runner.start();
    const first = await add(events, 'instance-1');
    await runner.waitFor(first.position, 2_000);
    const near = runner.waitFor({ commit: first.position.commit + 1n, prepare: first.position.prepare + 1n }, 2_000);
    const far = runner.waitFor({ commit: first.position.commit + 2n, prepare: first.position.prepare + 2n }, 2_000);
    const samecommit = runner.waitFor({ commit: first.position.commit, prepare: first.position.prepare + 1n }, 2_000);
    expect(runner.pendingWaits).toBe(3);
    await add(events, 'instance-2');
    await near;
    await samecommit;
    expect(await stillPending(far)).toBe(true);
    expect(runner.pendingWaits).toBe(1);
    await add(events, 'instance-3');
    await far;
    expect(runner.pendingWaits).toBe(0);
  });

  it('times out with Unavailable PROJ-wait-7t2k and leaves no waiter behind', async () => {
    const events = new InMemoryEventStore();
    const runner = runnerOn(events, new InMemoryProjectionStore());
    runner.start();
    const started = Date.now();
    const error = await runner.waitFor({ commit: 99n, prepare: 99n }, 30).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(25);
    expect(error).toBeInstanceOf(DomainError);
    const { kind, id, messageKey, message, grpcCode } = error as DomainError;
    expect({ kind, id, messageKey, message, grpcCode }).toEqual({
      kind: 'Unavailable',
      id: 'PROJ-wait-7t2k',
      messageKey: 'Errors.Projection.Timeout',
      message: 'the read model did not catch up in time',
      grpcCode: 14,
    });
    expect(runner.pendingWaits).toBe(0);
  });

  it('keeps waiting until the timeout, not shorter', async () => {
    const runner = runnerOn(new InMemoryEventStore(), new InMemoryProjectionStore());
    runner.start();
    const waiting = runner.waitFor({ commit: 5n, prepare: 5n }, 1_000);
    waiting.catch(() => undefined);
    expect(await stillPending(waiting, 50)).toBe(true);
    expect(runner.pendingWaits).toBe(1);
  });
});

describe('projection runner: rebuild', () => {
  const populated = async () => {
    const events = new InMemoryEventStore();
    for (let i = 1; i <= 3; i++) await add(events, `instance-${i}`);
    const target = new InMemoryProjectionStore();
    return { events, target };
  };

  it('rebuilds a running projection and leaves it running', async () => {
    const { events, target } = await populated();
    const runner = runnerOn(events, target);
    runner.start();
    await runner.waitFor((await events.headPosition())!, 2_000);
    const before = await target.snapshot();
    await runner.rebuild();
    expect(await target.snapshot()).toEqual(before);
    expect(runner.running).toBe(true);
    const next = await add(events, 'instance-4');
    await runner.waitFor(next.position, 2_000);
    expect(await target.instanceById('4')).toBeDefined();
  });

  it('rebuilds a stopped projection and leaves it stopped', async () => {
    const { events, target } = await populated();
    const runner = runnerOn(events, target);
    runner.start();
    await runner.waitFor((await events.headPosition())!, 2_000);
    await runner.stop();
    const before = await target.snapshot();
    await target.apply([{ kind: 'upsertInstance', instance: { id: 'stale', name: 'x', domains: [], sequence: 1n, creationDate: 'x' } }], {
      commit: 100n,
      prepare: 100n,
    });
    await runner.rebuild();
    expect(await target.snapshot()).toEqual(before);
    expect(runner.running).toBe(false);
    expect(runner.position).toEqual(await events.headPosition());
  });

  it('rebuilds from an empty store without waiting', async () => {
    const target = new InMemoryProjectionStore();
    await target.apply([{ kind: 'upsertInstance', instance: { id: 'stale', name: 'x', domains: [], sequence: 1n, creationDate: 'x' } }], {
      commit: 100n,
      prepare: 100n,
    });
    const runner = runnerOn(new InMemoryEventStore(), target);
    await runner.rebuild();
    expect(await target.instanceById('stale')).toBeUndefined();
    expect(await target.checkpoint()).toBeUndefined();
    expect(runner.position).toBeUndefined();
    expect(runner.running).toBe(false);
  });
});

/**
 * A feed that plays one script per subscription: the items, then an error (or, for `'end'`, a
 * normal end). When the scripts run out, every further subscription fails at once. Records when
 * each subscription started.
 */
class ScriptedFeed implements EventStore {
  readonly subscribedAt: number[] = [];
  readonly subscriptions: SubscribeOptions[] = [];
  readonly failures: Error[] = [];
  constructor(
    private readonly scripts: (readonly SubscriptionItem[])[],
    private readonly ending: 'error' | 'end' | 'hang' = 'error',
  ) {}

  async *subscribeToAll(options: SubscribeOptions = {}): AsyncIterable<SubscriptionItem> {
    this.subscribedAt.push(performance.now());
    this.subscriptions.push(options);
    const script = this.scripts.shift() ?? [];
    for (const item of script) yield item;
    if (this.ending === 'end') return;
    if (this.ending === 'hang') {
      await new Promise<void>((resolve) => options.signal?.addEventListener('abort', () => resolve(), { once: true }));
      throw new Error('aborted while hanging');
    }
    const failure = new Error(`feed failure ${this.subscribedAt.length}`);
    this.failures.push(failure);
    throw failure;
  }
  async readStream() {
    return { currentRevision: undefined, events: [] };
  }
  async appendToStream(): Promise<never> {
    throw new Error('read-only');
  }
  async headPosition() {
    return undefined;
  }
  async close() {}
}

const gaps = (times: readonly number[]) => times.slice(1).map((t, i) => t - times[i]!);
const until = async (condition: () => boolean, timeoutMs = 5_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await tick(2);
  }
};
const recordedEvent = (i: number): RecordedEvent => ({
  id: `e${i}`,
  streamId: `instance-${i}`,
  revision: 0n,
  position: { commit: BigInt(i), prepare: BigInt(i) },
  type: 'instance.added',
  data: { name: `i${i}` },
  metadata: { instanceId: `${i}`, editorUserId: 'u', createdAt: '2024-06-11T10:37:15.680Z', correlationId: 'c', causationId: 'c', schemaVersion: 1 },
});

describe('projection runner: failures and backoff', () => {
  it('reports each feed failure to onError and resubscribes', async () => {
    const feed = new ScriptedFeed([]);
    const errors: unknown[] = [];
    const runner = runnerOn(feed, new InMemoryProjectionStore(), { initialBackoffMs: 1, maxBackoffMs: 1, onError: (e) => errors.push(e) });
    runner.start();
    await until(() => feed.subscribedAt.length >= 3);
    await runner.stop();
    expect(errors.slice(0, 2)).toEqual(feed.failures.slice(0, 2));
    expect(runner.running).toBe(false);
  });

  it('resubscribes from the checkpoint when the feed ends without being asked to', async () => {
    const feed = new ScriptedFeed([[{ kind: 'event', event: recordedEvent(1) }, { kind: 'caught-up' }]], 'end');
    const errors: unknown[] = [];
    const target = new InMemoryProjectionStore();
    const runner = runnerOn(feed, target, { initialBackoffMs: 1, maxBackoffMs: 1, onError: (e) => errors.push(e) });
    runner.start();
    await until(() => feed.subscriptions.length >= 2);
    await runner.stop();
    expect(errors).toEqual([]);
    expect(feed.subscriptions[0]!.after).toBeUndefined();
    expect(feed.subscriptions[1]!.after).toEqual({ commit: 1n, prepare: 1n });
    expect(await target.instanceById('1')).toMatchObject({ name: 'i1' });
  });

  it('waits longer after each failure: the delay doubles from initialBackoffMs', async () => {
    const feed = new ScriptedFeed([]);
    const runner = runnerOn(feed, new InMemoryProjectionStore(), { initialBackoffMs: 20, maxBackoffMs: 10_000 });
    runner.start();
    await until(() => feed.subscribedAt.length >= 4);
    await runner.stop();
    const [first, second, third] = gaps(feed.subscribedAt);
    // Timers never fire early (allow 2 ms for clock granularity), so these lower bounds hold.
    expect(first).toBeGreaterThanOrEqual(18);
    expect(second).toBeGreaterThanOrEqual(38);
    expect(third).toBeGreaterThanOrEqual(78);
    // Far below maxBackoffMs: the delay grows from the initial one, it does not jump to the cap.
    expect(first! + second! + third!).toBeLessThan(2_000);
  });

  it('caps the delay at maxBackoffMs', async () => {
    const feed = new ScriptedFeed([]);
    const runner = runnerOn(feed, new InMemoryProjectionStore(), { initialBackoffMs: 60, maxBackoffMs: 80 });
    runner.start();
    await until(() => feed.subscribedAt.length >= 5);
    await runner.stop();
    const delays = gaps(feed.subscribedAt);
    expect(delays[0]).toBeGreaterThanOrEqual(58);
    for (const d of delays.slice(1)) expect(d).toBeGreaterThanOrEqual(78);
    // Uncapped, the four delays would be 60 + 120 + 240 + 480 = 900 ms; capped they are 300 ms.
    expect(delays.reduce((a, b) => a + b, 0)).toBeLessThan(700);
  });

  it('starts over from initialBackoffMs once an event came through', async () => {
    const scripts = Array.from({ length: 5 }, (_, i) => [{ kind: 'event' as const, event: recordedEvent(i + 1) }]);
    const feed = new ScriptedFeed(scripts);
    const runner = runnerOn(feed, new InMemoryProjectionStore(), { initialBackoffMs: 40, maxBackoffMs: 10_000 });
    runner.start();
    await until(() => feed.subscribedAt.length >= 5);
    await runner.stop();
    const delays = gaps(feed.subscribedAt).slice(0, 4);
    // Without the reset: 40 + 80 + 160 + 320 = 600 ms.
    expect(delays.reduce((a, b) => a + b, 0)).toBeLessThan(450);
    for (const d of delays) expect(d).toBeGreaterThanOrEqual(38);
  });

  it('uses 50 ms, doubling, when no backoff is configured', async () => {
    const feed = new ScriptedFeed([]);
    const runner = runnerOn(feed, new InMemoryProjectionStore());
    runner.start();
    await until(() => feed.subscribedAt.length >= 3);
    await runner.stop();
    const [first, second] = gaps(feed.subscribedAt);
    expect(first).toBeGreaterThanOrEqual(48);
    expect(first).toBeLessThan(1_000);
    expect(second).toBeGreaterThanOrEqual(98);
  });

  it('stops at once while waiting to resubscribe', async () => {
    const feed = new ScriptedFeed([]);
    const runner = runnerOn(feed, new InMemoryProjectionStore(), { initialBackoffMs: 60_000 });
    runner.start();
    await until(() => feed.subscribedAt.length >= 1);
    await tick(5);
    const started = Date.now();
    await runner.stop();
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(feed.subscribedAt).toHaveLength(1);
  });

  it('does not report the error of a feed that fails because it was stopped', async () => {
    const feed = new ScriptedFeed([[{ kind: 'caught-up' }]], 'hang');
    const errors: unknown[] = [];
    const runner = runnerOn(feed, new InMemoryProjectionStore(), { onError: (e) => errors.push(e) });
    runner.start();
    await until(() => feed.subscriptions.length >= 1);
    await tick(5);
    await runner.stop();
    await tick(5);
    expect(errors).toEqual([]);
    expect(feed.subscriptions[0]!.signal?.aborted).toBe(true);
  });
});

describe('projection runner: restarting and batching defaults', () => {
  it('keeps running when started again before the previous stop has finished', async () => {
    const events = new InMemoryEventStore();
    const runner = runnerOn(events, new InMemoryProjectionStore());
    runner.start();
    await tick(5);
    const stopping = runner.stop();
    runner.start();
    await stopping;
    await tick(5);
    expect(runner.running).toBe(true);
    const next = await add(events, 'instance-1');
    await runner.waitFor(next.position, 2_000);
  });

  it('catches up in steps of at most 500 events by default', async () => {
    const events = new InMemoryEventStore();
    for (let i = 0; i < 501; i++) await add(events, `instance-d${i}`);
    const sizes: number[] = [];
    const target = new (class extends InMemoryProjectionStore {
      override async applyBatch(batch: Parameters<InMemoryProjectionStore['applyBatch']>[0]): Promise<void> {
        sizes.push(batch.length);
        return super.applyBatch(batch);
      }
    })();
    const runner = runnerOn(events, target);
    runner.start();
    await runner.waitFor((await events.headPosition())!, 5_000);
    expect(sizes).toEqual([500, 1]);
  });
});

describe('projection runner: what it hands the read model', () => {
  it('lets a timed-out wait go without dropping the other waiters', async () => {
    const events = new InMemoryEventStore();
    const runner = runnerOn(events, new InMemoryProjectionStore());
    runner.start();
    const patient = runner.waitFor({ commit: 0n, prepare: 0n }, 2_000);
    const impatient = runner.waitFor({ commit: 0n, prepare: 0n }, 10);
    await expect(impatient).rejects.toMatchObject({ id: 'PROJ-wait-7t2k' });
    expect(runner.pendingWaits).toBe(1);
    await add(events, 'instance-1');
    await patient;
    expect(runner.pendingWaits).toBe(0);
  });

  it('never moves its position backwards, even when the read model’s checkpoint does', async () => {
    const feed = new ScriptedFeed([[{ kind: 'event', event: recordedEvent(5) }, { kind: 'caught-up' }]], 'error');
    let reads = 0;
    const target = new (class extends InMemoryProjectionStore {
      // The first subscription starts from the real (empty) checkpoint; later ones find an older one.
      override async checkpoint() {
        return reads++ === 0 ? super.checkpoint() : { commit: 2n, prepare: 2n };
      }
    })();
    const runner = runnerOn(feed, target, { initialBackoffMs: 1, maxBackoffMs: 1 });
    runner.start();
    await until(() => feed.subscriptions.length >= 3);
    await runner.stop();
    expect(feed.subscriptions[1]!.after).toEqual({ commit: 2n, prepare: 2n });
    expect(runner.position).toEqual({ commit: 5n, prepare: 5n });
  });

  it('moves the read model past a checkpoint item without changes', async () => {
    const at: GlobalPosition = { commit: 7n, prepare: 7n };
    const feed = new ScriptedFeed([[{ kind: 'checkpoint', position: at }]], 'hang');
    const applied: unknown[] = [];
    const target = new (class extends InMemoryProjectionStore {
      override async applyBatch(batch: Parameters<InMemoryProjectionStore['applyBatch']>[0]): Promise<void> {
        applied.push(...batch);
        return super.applyBatch(batch);
      }
    })();
    const runner = runnerOn(feed, target);
    runner.start();
    await runner.waitFor(at, 2_000);
    expect(applied).toEqual([{ changes: [], position: at }]);
  });

  it('ends the subscription it leaves when the handler fails, and reports the failure', async () => {
    const events = new ScriptedEventStore();
    const errors: unknown[] = [];
    const failure = new Error('handler bug');
    let fail = true;
    const runner = runnerOn(events, new InMemoryProjectionStore(), {
      initialBackoffMs: 1,
      handler: (event) => {
        if (fail) {
          fail = false;
          throw failure;
        }
        return projectEvent(event);
      },
      onError: (e) => errors.push(e),
    });
    runner.start();
    const first = await add(events, 'instance-1');
    await runner.waitFor(first.position, 2_000);
    expect(errors).toEqual([failure]);
    expect(events.subscriptions).toHaveLength(2);
    expect(events.subscriptions[0]!.signal?.aborted).toBe(true);
    expect(events.subscriptions[1]!.signal?.aborted).toBe(false);
  });
});
