import { describe, expect, it } from 'vitest';
import { domainClaimStreamId, ORPHANED_CLAIM_AFTER_MS, SetUpInstanceUseCase } from '../../src/index.js';
import { ManualClock, SequentialIds } from '../support/fixtures.js';
import { ScriptedEventStore } from '../support/scripted-event-store.js';

const domain = 'acme.example.com';

describe('SetUpInstance: domain claims', () => {
  it('releases its claims when the instance cannot be written, so the domain is free at once', async () => {
    const store = new ScriptedEventStore();
    const failure = new Error('instance stream unavailable');
    let failed = false;
    store.beforeAppend = (call) => {
      if (!failed && call.streamId.startsWith('instance-')) {
        failed = true;
        throw failure;
      }
    };
    const clock = new ManualClock();
    const setUp = new SetUpInstanceUseCase({ events: store, clock, ids: new SequentialIds(100n) });
    await expect(setUp.execute({ name: 'first', domains: [domain, 'www.acme.example.com'], instanceId: 'first' })).rejects.toBe(failure);
    for (const d of [domain, 'www.acme.example.com']) {
      expect((await store.readStream(domainClaimStreamId(d))).events.map((e) => e.type)).toEqual([
        'instance.domain.claimed',
        'instance.domain.released',
      ]);
    }
    const second = await setUp.execute({ name: 'second', domains: [domain], instanceId: 'second' });
    expect(second).toMatchObject({ instanceId: 'second', domains: [domain] });
  });

  it('never takes over the domain of an instance that exists, however old its claim', async () => {
    const store = new ScriptedEventStore();
    const clock = new ManualClock();
    const setUp = new SetUpInstanceUseCase({ events: store, clock, ids: new SequentialIds(100n) });
    await setUp.execute({ name: 'holder', domains: [domain], instanceId: 'holder' });
    clock.advance(10 * ORPHANED_CLAIM_AFTER_MS);
    await expect(setUp.execute({ name: 'late', domains: [domain], instanceId: 'late' })).rejects.toMatchObject({ id: 'INST-dom-5tk2' });
    expect((await store.readStream(domainClaimStreamId(domain))).events).toHaveLength(1);
  });

  it('takes over an orphaned claim only once it is ORPHANED_CLAIM_AFTER_MS old', async () => {
    const store = new ScriptedEventStore();
    // A crash after claiming: the instance append fails, and so does every append after it (no release).
    let down = false;
    store.beforeAppend = (call) => {
      if (call.streamId === 'instance-crashed') down = true;
      if (down) throw new Error('crash');
    };
    const clock = new ManualClock();
    const setUp = new SetUpInstanceUseCase({ events: store, clock, ids: new SequentialIds(100n) });
    await expect(setUp.execute({ name: 'crashed', domains: [domain], instanceId: 'crashed' })).rejects.toThrow('crash');
    store.beforeAppend = undefined;
    clock.advance(ORPHANED_CLAIM_AFTER_MS - 1);
    await expect(setUp.execute({ name: 'early', domains: [domain], instanceId: 'early' })).rejects.toMatchObject({ id: 'INST-dom-5tk2' });
    clock.advance(1);
    await expect(setUp.execute({ name: 'on-time', domains: [domain], instanceId: 'on-time' })).resolves.toMatchObject({ instanceId: 'on-time' });
    expect(ORPHANED_CLAIM_AFTER_MS).toBe(60_000);
  });

  it('does not mistake a store failure while claiming for a taken domain, even when the claim is orphaned', async () => {
    const store = new ScriptedEventStore();
    let down = false;
    store.beforeAppend = (call) => {
      if (call.streamId === 'instance-crashed') down = true;
      if (down) throw new Error('crash');
    };
    const clock = new ManualClock();
    const setUp = new SetUpInstanceUseCase({ events: store, clock, ids: new SequentialIds(100n) });
    await expect(setUp.execute({ name: 'crashed', domains: [domain], instanceId: 'crashed' })).rejects.toThrow('crash');
    clock.advance(ORPHANED_CLAIM_AFTER_MS);
    // The same set-up is retried; its own claim stands, but the store fails the first append.
    const failure = new Error('disk full');
    let appends = 0;
    store.beforeAppend = () => {
      if (appends++ === 0) throw failure;
    };
    await expect(setUp.execute({ name: 'crashed', domains: [domain], instanceId: 'crashed' })).rejects.toBe(failure);
    expect((await store.readStream('instance-crashed')).currentRevision).toBeUndefined();
  });
});
