import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  InMemoryProjectionStore,
  INSTANCE_STREAM_PREFIX,
  ProjectionRunner,
  projectEvent,
  type RecordedEvent,
} from '../support/everything.js';
import { storeAdapters, type StoreUnderTest } from '../support/adapters.js';
import { createHarness, owner, seedRequest, type Harness } from '../support/fixtures.js';

const allEvents = async (h: Harness): Promise<RecordedEvent[]> => {
  const out: RecordedEvent[] = [];
  const abort = new AbortController();
  for await (const item of h.events.subscribeToAll({ signal: abort.signal })) {
    if (item.kind === 'event') out.push(item.event);
    if (item.kind === 'caught-up') break;
  }
  abort.abort();
  return out;
};

describe.each(storeAdapters)('SMTP configuration projection on the $name store', (adapter) => {
  let h: Harness;
  let store: StoreUnderTest;

  beforeEach(async () => {
    store = await adapter.create();
    h = createHarness({ events: store.store, ...(store.readModel ? { readModel: store.readModel } : {}), shared: store.shared ?? false });
    for (let i = 0; i < 5; i++) {
      const instanceId = await h.newInstance();
      h.clock.advance(10);
      if (i % 2 === 0) await h.addSmtpConfig.execute({ principal: owner(instanceId), instanceId, body: { ...seedRequest, senderName: `n${i}` } });
    }
  });
  afterEach(async () => {
    await h.close();
    await store.close();
  });

  it('rebuilds the same read model from the events, every time', async () => {
    const live = await h.readModel.snapshot();
    await h.runner.rebuild();
    const first = await h.readModel.snapshot();
    await h.runner.rebuild();
    const second = await h.readModel.snapshot();
    expect(first).toEqual(live);
    expect(second).toEqual(first);
    expect((first as { smtpConfigs: unknown[] }).smtpConfigs).toHaveLength(3);
  });

  it('changes nothing when an event is delivered twice', async () => {
    const before = await h.readModel.snapshot();
    const events = await allEvents(h);
    for (const event of events) await h.readModel.apply(projectEvent(event), event.position);
    expect(await h.readModel.snapshot()).toEqual(before);
    // A fresh read model fed every event twice ends up like one fed once.
    const twice = new InMemoryProjectionStore();
    for (const event of events) {
      await twice.apply(projectEvent(event), event.position);
      await twice.apply(projectEvent(event), event.position);
    }
    expect(await twice.snapshot()).toEqual(before);
  });

  it('maps an event to the same changes every time (the handler is pure)', async () => {
    const events = await allEvents(h);
    expect(events.map(projectEvent)).toEqual(events.map(projectEvent));
  });

  it('resumes from its checkpoint after the feed drops, and then equals a fresh rebuild', async (ctx) => {
    if (store.shared) ctx.skip(true, 'a real EventStoreDB cannot be told to drop a subscription; the in-process server covers this');
    const errors: unknown[] = [];
    const target = new InMemoryProjectionStore();
    const runner = new ProjectionRunner(h.events, target, {
      handler: projectEvent,
      streamPrefixes: [INSTANCE_STREAM_PREFIX],
      initialBackoffMs: 5,
      onError: (e) => errors.push(e),
    });
    runner.start();
    await runner.waitFor((await h.events.headPosition())!, 5_000);
    store.dropSubscriptions();
    const instanceId = await h.newInstance('after-the-drop');
    const { id } = await h.addSmtpConfig.execute({ principal: owner(instanceId), instanceId, body: seedRequest });
    await runner.waitFor((await h.events.headPosition())!, 5_000);
    await runner.stop();
    expect(errors.length).toBeGreaterThanOrEqual(1);
    expect(await target.smtpConfigById(instanceId, id)).toBeDefined();
    await h.runner.rebuild();
    expect(await target.snapshot()).toEqual(await h.readModel.snapshot());
  });

  it('times out a wait for a position it never reaches, as Unavailable', async () => {
    const head = (await h.events.headPosition())!;
    await expect(h.runner.waitFor({ commit: head.commit + 1000n, prepare: head.prepare + 1000n }, 20)).rejects.toMatchObject({
      kind: 'Unavailable',
    });
  });
});
