import { afterEach, describe, expect, it } from 'vitest';
import {
  InMemoryProjectionStore,
  ProjectionRunner,
  SubscriptionRefusedError,
  type EventStore,
  type ProjectionRunnerOptions,
  type RecordedEvent,
  type SubscribeOptions,
  type SubscriptionItem,
} from '../support/everything.js';

const tick = (ms = 0) => new Promise((resolve) => setTimeout(resolve, ms));
const until = async (condition: () => boolean, timeoutMs = 5_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await tick(2);
  }
};
/** Whether `promise` has settled once every ready microtask has run (no timer involved). */
const settledNow = (promise: Promise<unknown>): Promise<boolean> =>
  Promise.race([
    promise.then(
      () => true,
      () => true,
    ),
    new Promise<boolean>((resolve) => setImmediate(() => resolve(false))),
  ]);

const timeoutError = {
  kind: 'Unavailable',
  id: 'PROJ-wait-7t2k',
  messageKey: 'Errors.Projection.Timeout',
  message: 'the read model did not catch up in time',
};

const event = (i: number): RecordedEvent => ({
  id: `e${i}`,
  streamId: `instance-${i}`,
  revision: 0n,
  position: { commit: BigInt(i), prepare: BigInt(i) },
  type: 'instance.added',
  data: { name: `i${i}` },
  metadata: { instanceId: `${i}`, editorUserId: 'u', createdAt: '2024-06-11T10:37:15.680Z', correlationId: 'c', causationId: 'c', schemaVersion: 1 },
});

/** An event store whose feed is whatever `subscribe` returns for each subscription (counted). */
const feedOf = (subscribe: (options: SubscribeOptions, n: number) => AsyncIterable<SubscriptionItem>) => {
  const subscriptions: SubscribeOptions[] = [];
  const store: EventStore = {
    subscribeToAll: (options = {}) => {
      subscriptions.push(options);
      return subscribe(options, subscriptions.length);
    },
    readStream: async () => ({ currentRevision: undefined, events: [] }),
    appendToStream: async () => {
      throw new Error('read-only');
    },
    headPosition: async () => undefined,
    close: async () => {},
  };
  return { store, subscriptions };
};

/** Plays `items`, then waits for the subscription's signal and ends. */
async function* thenHang(items: readonly SubscriptionItem[], options: SubscribeOptions, gate?: Promise<void>): AsyncGenerator<SubscriptionItem> {
  if (gate) await gate;
  for (const item of items) yield item;
  await new Promise<void>((resolve) => options.signal?.addEventListener('abort', () => resolve(), { once: true }));
}

async function* refusing(refusal: Error): AsyncGenerator<SubscriptionItem> {
  throw refusal;
}

const runners: ProjectionRunner[] = [];
const runnerOn = (events: EventStore, options: Partial<ProjectionRunnerOptions> = {}) => {
  const runner = new ProjectionRunner(events, new InMemoryProjectionStore(), { handler: () => [], ...options });
  runners.push(runner);
  return runner;
};
afterEach(async () => {
  await Promise.all(runners.splice(0).map((r) => r.stop()));
});

describe('projection runner: waiting until caught up', () => {
  it('is not caught up before it has been started', async () => {
    const { store } = feedOf((options) => thenHang([{ kind: 'caught-up' }], options));
    const runner = runnerOn(store);
    const caughtUp = runner.waitForCaughtUp(5_000);
    expect(await settledNow(caughtUp)).toBe(false);
    runner.start();
    await caughtUp;
  });

  it('answers at once once the feed has caught up, without waiting for another caught-up', async () => {
    const { store, subscriptions } = feedOf((options) => thenHang([{ kind: 'caught-up' }], options));
    const runner = runnerOn(store);
    runner.start();
    await runner.waitForCaughtUp(5_000);
    // A 1 ms timeout: a wait that did not answer from what it already knows would time out.
    await expect(runner.waitForCaughtUp(1)).resolves.toBeUndefined();
    expect(await settledNow(runner.waitForCaughtUp(60_000))).toBe(true);
    expect(subscriptions).toHaveLength(1);
  });

  it('times out with Unavailable PROJ-wait-7t2k while the feed has not caught up', async () => {
    const { store } = feedOf((options) => thenHang([], options));
    const runner = runnerOn(store);
    runner.start();
    await expect(runner.waitForCaughtUp(5)).rejects.toMatchObject(timeoutError);
  });

  it('lets a timed-out wait go without dropping the waits that are still patient', async () => {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const { store } = feedOf((options) => thenHang([{ kind: 'caught-up' }], options, gate));
    const runner = runnerOn(store);
    runner.start();
    const before = runner.waitForCaughtUp(10_000);
    const hasty = runner.waitForCaughtUp(5);
    const after = runner.waitForCaughtUp(10_000);
    await expect(hasty).rejects.toMatchObject(timeoutError);
    open();
    await expect(before).resolves.toBeUndefined();
    await expect(after).resolves.toBeUndefined();
  });
});

describe('projection runner: a feed that refuses the subscription', () => {
  it('rejects the waits for caught-up with the refusal, reports it once and does not resubscribe', async () => {
    const refusal = new SubscriptionRefusedError('access denied to $all');
    const { store, subscriptions } = feedOf(() => refusing(refusal));
    const errors: unknown[] = [];
    const runner = runnerOn(store, { initialBackoffMs: 1, maxBackoffMs: 1, onError: (e) => errors.push(e) });
    const waiting = runner.waitForCaughtUp(5_000);
    runner.start();
    await expect(waiting).rejects.toBe(refusal);
    await tick(20);
    expect(subscriptions).toHaveLength(1);
    expect(errors).toEqual([refusal]);
  });

  it('is no longer running after a refusal, and can be started again', async () => {
    const refusal = new SubscriptionRefusedError('unknown position');
    const { store, subscriptions } = feedOf((options, n) => (n === 1 ? refusing(refusal) : thenHang([{ kind: 'caught-up' }], options)));
    const runner = runnerOn(store, { initialBackoffMs: 1, maxBackoffMs: 1 });
    const refused = runner.waitForCaughtUp(5_000);
    runner.start();
    await expect(refused).rejects.toBe(refusal);
    await until(() => !runner.running);
    runner.start();
    expect(runner.running).toBe(true);
    await runner.waitForCaughtUp(5_000);
    expect(subscriptions).toHaveLength(2);
  });

  it('does not count a refusal as caught up: a later wait times out', async () => {
    const refusal = new SubscriptionRefusedError('access denied to $all');
    const { store } = feedOf(() => refusing(refusal));
    const runner = runnerOn(store);
    const waiting = runner.waitForCaughtUp(5_000);
    runner.start();
    await expect(waiting).rejects.toBe(refusal);
    await expect(runner.waitForCaughtUp(5)).rejects.toMatchObject(timeoutError);
  });
});

describe('projection runner: stopping', () => {
  it('stops at once when onError stops it, instead of waiting out the backoff first', async () => {
    const { store, subscriptions } = feedOf(async function* () {
      throw new Error('feed dropped');
    });
    let stopping: Promise<void> | undefined;
    // Not registered for afterEach: it is stopped here.
    const runner = new ProjectionRunner(store, new InMemoryProjectionStore(), {
      handler: () => [],
      initialBackoffMs: 60_000,
      onError: () => (stopping ??= runner.stop()),
    });
    runner.start();
    await until(() => stopping !== undefined);
    expect(await settledNow(stopping!)).toBe(true);
    expect(runner.running).toBe(false);
    expect(subscriptions).toHaveLength(1);
  });

  it('does not hand the handler an event the feed delivers after it was stopped', async () => {
    let deliver!: (result: IteratorResult<SubscriptionItem>) => void;
    let nexts = 0;
    const { store } = feedOf(() => ({
      [Symbol.asyncIterator]: () => ({
        next: () => {
          nexts++;
          return new Promise<IteratorResult<SubscriptionItem>>((resolve) => (deliver = resolve));
        },
      }),
    }));
    const handled: RecordedEvent[] = [];
    const runner = runnerOn(store, { handler: (e) => (handled.push(e), []) });
    runner.start();
    await until(() => nexts === 1);
    const stopping = runner.stop();
    deliver({ done: false, value: { kind: 'event', event: event(1) } });
    await stopping;
    expect(handled).toEqual([]);
    expect(runner.position).toBeUndefined();
  });

  it('leaves no abort listener behind for each resubscription and backoff', async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    try {
      const { store, subscriptions } = feedOf(async function* () {
        throw new Error('feed dropped');
      });
      const runner = runnerOn(store, { initialBackoffMs: 0, maxBackoffMs: 0 });
      runner.start();
      // More than the 10 listeners Node warns about on one signal.
      await until(() => subscriptions.length >= 25);
      await runner.stop();
      await tick(5);
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
  });
});

describe('projection runner: feeds whose iterators do little', () => {
  const endingIterator = (withReturn: 'none' | 'returns nothing') => {
    let done = false;
    return {
      next: async (): Promise<IteratorResult<SubscriptionItem>> => {
        if (done) return { done: true, value: undefined };
        done = true;
        return { done: false, value: { kind: 'caught-up' } };
      },
      ...(withReturn === 'returns nothing' ? { return: () => undefined as unknown as Promise<IteratorResult<SubscriptionItem>> } : {}),
    };
  };

  it.each(['none', 'returns nothing'] as const)('resubscribes without an error when the iterator’s return is %s', async (withReturn) => {
    const { store, subscriptions } = feedOf(() => ({ [Symbol.asyncIterator]: () => endingIterator(withReturn) }));
    const errors: unknown[] = [];
    const runner = runnerOn(store, { initialBackoffMs: 1, maxBackoffMs: 1, onError: (e) => errors.push(e) });
    runner.start();
    await runner.waitForCaughtUp(5_000);
    await until(() => subscriptions.length >= 3);
    await runner.stop();
    expect(errors).toEqual([]);
  });
});

describe('projection runner: what it reports after each batch', () => {
  it('counts the events applied, not the feed checkpoints that stand for events of other streams', async () => {
    // Events 1, 3, 5 of the projection's streams; 2, 4 and 6-7 (other streams) come as checkpoints.
    const items: SubscriptionItem[] = [
      { kind: 'event', event: event(1) },
      { kind: 'checkpoint', position: { commit: 2n, prepare: 2n } },
      { kind: 'event', event: event(3) },
      { kind: 'checkpoint', position: { commit: 4n, prepare: 4n } },
      { kind: 'event', event: event(5) },
      { kind: 'checkpoint', position: { commit: 7n, prepare: 7n } },
      { kind: 'caught-up' },
    ];
    const { store } = feedOf((options) => thenHang(items, options));
    const reports: { commit: bigint; events: number }[] = [];
    const runner = runnerOn(store, { maxBatchSize: 2, onApplied: (position, events) => void reports.push({ commit: position.commit, events }) });
    runner.start();
    await runner.waitForCaughtUp(5_000);
    expect(reports.at(-1)!.commit).toBe(7n);
    expect(reports.reduce((sum, r) => sum + r.events, 0)).toBe(3);
  });
});
