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
});
