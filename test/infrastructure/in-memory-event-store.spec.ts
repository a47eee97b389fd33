import { describe, expect, it } from 'vitest';
import { deepFreeze, InMemoryEventStore, type NewEvent } from '../support/everything.js';

const metadata = { instanceId: 'i', editorUserId: 'u', createdAt: '2024-06-11T10:37:15.680Z', correlationId: 'c', causationId: 'c', schemaVersion: 1 };
const event = (id: string, data: unknown): NewEvent => ({ id, type: 'test.happened', data, metadata });

describe('InMemoryEventStore', () => {
  it('keeps frozen event data as it is, without a copy', async () => {
    const store = new InMemoryEventStore();
    const data = deepFreeze({ nested: { value: 1 } });
    await store.appendToStream('s', [event('00000000-0000-8000-8000-000000000001', data)], 'no_stream');
    expect((await store.readStream('s')).events[0]!.data).toBe(data);
  });

  it('copies data the caller may still change, so a stored event never changes afterwards', async () => {
    const store = new InMemoryEventStore();
    const data = { nested: { value: 1 } };
    await store.appendToStream('s', [event('00000000-0000-8000-8000-000000000001', data)], 'no_stream');
    data.nested.value = 2;
    const [stored] = (await store.readStream('s')).events;
    expect(stored!.data).toEqual({ nested: { value: 1 } });
    expect(Object.isFrozen(stored) && Object.isFrozen(stored!.data) && Object.isFrozen((stored!.data as typeof data).nested)).toBe(true);
  });

  it('answers a retried append expecting any revision as the first time, without appending twice', async () => {
    const store = new InMemoryEventStore();
    await store.appendToStream('s', [event('00000000-0000-8000-8000-000000000001', {})], 'no_stream');
    const batch = [event('00000000-0000-8000-8000-000000000002', {}), event('00000000-0000-8000-8000-000000000003', {})];
    const first = await store.appendToStream('s', batch, 'any');
    await store.appendToStream('s', [event('00000000-0000-8000-8000-000000000004', {})], 'any');
    expect(await store.appendToStream('s', batch, 'any')).toEqual(first);
    expect((await store.readStream('s')).events.map((e) => e.id.slice(-1))).toEqual(['1', '2', '3', '4']);
  });

  it('still refuses an append at a stale revision whose ids are not the ones stored there', async () => {
    const store = new InMemoryEventStore();
    await store.appendToStream('s', [event('00000000-0000-8000-8000-000000000001', {})], 'no_stream');
    await expect(store.appendToStream('s', [event('00000000-0000-8000-8000-000000000009', {})], 'no_stream')).rejects.toMatchObject({
      name: 'WrongExpectedRevisionError',
    });
  });

  it('hands out a stream that later appends do not change, and that a reader cannot change', async () => {
    const store = new InMemoryEventStore();
    await store.appendToStream('s', [event('00000000-0000-8000-8000-000000000001', { n: 1 })], 'no_stream');
    const before = await store.readStream('s');
    await store.appendToStream('s', [event('00000000-0000-8000-8000-000000000002', { n: 2 })], 0n);
    expect(before.currentRevision).toBe(0n);
    expect(before.events.map((e) => e.revision)).toEqual([0n]);
    expect(() => (before.events as unknown as unknown[]).push('x')).toThrow(TypeError);
    const after = await store.readStream('s');
    expect(after.currentRevision).toBe(1n);
    expect(after.events.map((e) => e.data)).toEqual([{ n: 1 }, { n: 2 }]);
    expect(after.events[0]).toBe(before.events[0]);
  });

  it('counts revisions past the shared small ones correctly', async () => {
    const store = new InMemoryEventStore();
    const many = Array.from({ length: 4100 }, (_, i) => event(`00000000-0000-8000-8000-${String(i).padStart(12, '0')}`, { i }));
    const result = await store.appendToStream('s', many, 'no_stream');
    expect(result.nextExpectedRevision).toBe(4099n);
    const { currentRevision, events } = await store.readStream('s');
    expect(currentRevision).toBe(4099n);
    expect(events[4097]!.revision).toBe(4097n);
    await expect(store.appendToStream('s', [event('00000000-0000-8000-8000-100000000000', {})], 4098n)).rejects.toMatchObject({ name: 'WrongExpectedRevisionError' });
    expect((await store.appendToStream('s', [event('00000000-0000-8000-8000-100000000000', {})], 4099n)).nextExpectedRevision).toBe(4100n);
  });

  describe('subscribeToAll', () => {
    it('hands over what is stored already without waiting for a timer, then follows appends in order', async () => {
      const store = new InMemoryEventStore();
      await store.appendToStream('s', [event('00000000-0000-8000-8000-000000000001', { n: 1 })], 'no_stream');
      const items = store.subscribeToAll()[Symbol.asyncIterator]();
      expect(await items.next()).toMatchObject({ done: false, value: { kind: 'event', event: { streamId: 's', data: { n: 1 } } } });
      expect(await items.next()).toEqual({ done: false, value: { kind: 'caught-up' } });
      const pending = items.next();
      await store.appendToStream('s', [event('00000000-0000-8000-8000-000000000002', { n: 2 }), event('00000000-0000-8000-8000-000000000003', { n: 3 })], 0n);
      expect(await pending).toMatchObject({ value: { kind: 'event', event: { revision: 1n } } });
      expect(await items.next()).toMatchObject({ value: { kind: 'event', event: { revision: 2n } } });
      await items.return!();
      expect(await items.next()).toEqual({ done: true, value: undefined });
    });

    it('gives a checkpoint for the events it filters out, before the next event it keeps and at the end', async () => {
      const store = new InMemoryEventStore();
      await store.appendToStream('other-1', [event('00000000-0000-8000-8000-000000000001', {})], 'no_stream');
      await store.appendToStream('kept-1', [event('00000000-0000-8000-8000-000000000002', {})], 'no_stream');
      await store.appendToStream('other-2', [event('00000000-0000-8000-8000-000000000003', {})], 'no_stream');
      const seen: unknown[] = [];
      for await (const item of store.subscribeToAll({ streamPrefixes: ['kept-'] })) {
        seen.push(item.kind === 'event' ? `event ${item.event.streamId}` : item.kind === 'checkpoint' ? `checkpoint ${item.position.commit}` : item.kind);
        if (item.kind === 'caught-up') break;
      }
      expect(seen).toEqual(['checkpoint 0', 'event kept-1', 'checkpoint 2', 'caught-up']);
    });

    it('ends a waiting subscription when its signal aborts, and fails one when the store drops it', async () => {
      const store = new InMemoryEventStore();
      const abort = new AbortController();
      const aborted = store.subscribeToAll({ signal: abort.signal })[Symbol.asyncIterator]();
      const dropped = store.subscribeToAll()[Symbol.asyncIterator]();
      expect((await aborted.next()).value).toEqual({ kind: 'caught-up' });
      expect((await dropped.next()).value).toEqual({ kind: 'caught-up' });
      const waitingAborted = aborted.next();
      const waitingDropped = dropped.next();
      abort.abort();
      expect(await waitingAborted).toEqual({ done: true, value: undefined });
      store.dropSubscriptions(new Error('gone'));
      await expect(waitingDropped).rejects.toThrow('gone');
      expect(await dropped.next()).toEqual({ done: true, value: undefined });
    });
  });
});
