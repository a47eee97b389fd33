import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DomainError, InMemoryProjectionStore, instanceStreamId, catchUpReadModel, type RecordedEvent } from '../support/everything.js';
import { applicationAdapters, type StoreUnderTest } from '../support/adapters.js';
import { createHarness, owner, seedRequest, type Harness } from '../support/fixtures.js';
import { ScriptedEventStore } from '../support/scripted-event-store.js';

const errorOf = async (promise: Promise<unknown>): Promise<DomainError> => {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (error instanceof DomainError) return error;
  throw new Error(`expected a DomainError, got ${String(error)}`);
};

const relational = applicationAdapters.filter((a) => !a.name.startsWith('EventStoreDB'));

describe.each(relational)('the SMTP configuration’s life on the $name store', (adapter) => {
  let h: Harness;
  let store: StoreUnderTest;
  let instanceId: string;
  const streamEvents = async (): Promise<readonly RecordedEvent[]> => (await h.events.readStream(instanceStreamId(instanceId))).events;

  beforeEach(async () => {
    store = await adapter.create();
    h = createHarness({ events: store.store, ...(store.readModel ? { readModel: store.readModel } : {}), shared: store.shared ?? false, inline: store.inline ?? true });
    instanceId = await h.newInstance('acme');
  });
  afterEach(async () => {
    await h.close();
    await store.close();
  });

  it('updates, rotates the password, removes and adds again; the sender configuration follows every step', async () => {
    const principal = owner(instanceId);
    const { id } = await h.addSmtpConfig.execute({ principal, instanceId, body: seedRequest });
    expect(await h.smtpSenderConfig.execute({ instanceId })).toMatchObject({ id, password: seedRequest.password, host: seedRequest.host });

    h.clock.advance(1_000);
    const updated = await h.updateSmtpConfig.execute({ principal, instanceId, id, body: { ...seedRequest, password: 'second', tls: false } });
    expect(updated.details).toEqual({ sequence: '4', changeDate: h.clock.now().toISOString(), resourceOwner: instanceId });
    expect(await h.readModel.smtpConfigById(instanceId, id)).toMatchObject({ tls: false, sequence: 4n, changeDate: h.clock.now().toISOString() });
    expect(await h.smtpSenderConfig.execute({ instanceId, id })).toMatchObject({ tls: false, password: 'second' });

    await h.updateSmtpConfigPassword.execute({ principal, instanceId, id, body: { password: 'third' } });
    expect((await h.smtpSenderConfig.execute({ instanceId, id }))?.password).toBe('third');
    expect(JSON.stringify((await streamEvents()).map((e) => e.data))).not.toMatch(/"(second|third)"/);

    await h.removeSmtpConfig.execute({ principal, instanceId, id });
    expect(await h.smtpSenderConfig.execute({ instanceId })).toBeUndefined();
    expect(await h.readModel.smtpConfigOfInstance(instanceId)).toBeUndefined();

    const again = await h.addSmtpConfig.execute({ principal, instanceId, body: { ...seedRequest, password: '' } });
    expect(await h.smtpSenderConfig.execute({ instanceId, id })).toBeUndefined();
    expect(await h.smtpSenderConfig.execute({ instanceId, id: again.id })).toMatchObject({ id: again.id, password: '', user: seedRequest.user });
    expect((await h.getInstanceSmtpConfig.execute({ principal, instanceId })).id).toBe(again.id);
    expect((await streamEvents()).map((e) => e.type)).toEqual([
      'instance.added',
      'instance.domain.added',
      'instance.smtp.config.added',
      'instance.smtp.config.changed',
      'instance.smtp.config.password.changed',
      'instance.smtp.config.removed',
      'instance.smtp.config.added',
    ]);
    const rebuilt = new InMemoryProjectionStore();
    await catchUpReadModel(h.events, rebuilt, 10_000);
    const [mine, fresh] = [(await h.readModel.snapshot()) as { smtpConfigs: unknown }, (await rebuilt.snapshot()) as { smtpConfigs: unknown }];
    expect(mine.smtpConfigs).toEqual(fresh.smtpConfigs);
  });

  it('lets concurrent updates and a removal end in one clean outcome', async () => {
    const principal = owner(instanceId);
    const { id } = await h.addSmtpConfig.execute({ principal, instanceId, body: seedRequest });
    const results = await Promise.allSettled([
      h.updateSmtpConfig.execute({ principal, instanceId, id, body: { ...seedRequest, description: 'one' } }),
      h.removeSmtpConfig.execute({ principal, instanceId, id }),
      h.updateSmtpConfig.execute({ principal, instanceId, id, body: { ...seedRequest, description: 'two' } }),
    ]);
    expect(results[1].status).toBe('fulfilled');
    const types = (await streamEvents()).map((e) => e.type);
    const removedAt = types.indexOf('instance.smtp.config.removed');
    expect(types.slice(removedAt + 1)).toEqual([]);
    for (const r of results) if (r.status === 'rejected') expect((r.reason as DomainError).id).toBe('COMMAND-SMTP-nf4k');
    expect(await h.readModel.smtpConfigOfInstance(instanceId)).toBeUndefined();
  });
});

describe('an update racing a removal, decided by the expected revision', () => {
  it('re-reads after losing the race to the removal and is refused as NotFound; no row is left behind', async () => {
    const events = new ScriptedEventStore();
    const h = createHarness({ events });
    try {
      const instanceId = await h.newInstance('race');
      const principal = owner(instanceId);
      const { id } = await h.addSmtpConfig.execute({ principal, instanceId, body: seedRequest });
      // The removal lands between the update's read and its append.
      events.beforeAppend = async (call) => {
        if (call.events[0]?.type !== 'instance.smtp.config.changed') return;
        events.beforeAppend = undefined;
        await h.removeSmtpConfig.execute({ principal, instanceId, id });
      };
      const error = await errorOf(h.updateSmtpConfig.execute({ principal, instanceId, id, body: { ...seedRequest, senderName: 'late' } }));
      expect({ id: error.id, code: error.grpcCode }).toEqual({ id: 'COMMAND-SMTP-nf4k', code: 5 });
      const changedAppends = events.appends.filter((a) => a.events[0]?.type === 'instance.smtp.config.changed');
      expect(changedAppends).toHaveLength(1); // tried once, with the revision it had read, and refused by the store
      const stream = await events.readStream(instanceStreamId(instanceId));
      expect(stream.events.map((e) => e.type).slice(-2)).toEqual(['instance.smtp.config.added', 'instance.smtp.config.removed']);
      expect(await h.readModel.smtpConfigOfInstance(instanceId)).toBeUndefined();
    } finally {
      await h.close();
    }
  });

  it('lets a removal that loses the race to an update remove the updated configuration', async () => {
    const events = new ScriptedEventStore();
    const h = createHarness({ events });
    try {
      const instanceId = await h.newInstance('race2');
      const principal = owner(instanceId);
      const { id } = await h.addSmtpConfig.execute({ principal, instanceId, body: seedRequest });
      events.beforeAppend = async (call) => {
        if (call.events[0]?.type !== 'instance.smtp.config.removed') return;
        events.beforeAppend = undefined;
        await h.updateSmtpConfig.execute({ principal, instanceId, id, body: { ...seedRequest, senderName: 'first' } });
      };
      await h.removeSmtpConfig.execute({ principal, instanceId, id });
      const stream = await events.readStream(instanceStreamId(instanceId));
      expect(stream.events.map((e) => e.type).slice(-2)).toEqual(['instance.smtp.config.changed', 'instance.smtp.config.removed']);
      expect(await h.readModel.smtpConfigById(instanceId, id)).toBeUndefined();
    } finally {
      await h.close();
    }
  });
});
