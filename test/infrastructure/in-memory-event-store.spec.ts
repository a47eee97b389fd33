import { inspect } from 'node:util';
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

  it('gives back every event id exactly as appended, UUIDs, upper-case ones and others, past a chunk of ids', async () => {
    const store = new InMemoryEventStore();
    const ids = Array.from({ length: 4200 }, (_, i) => `0f1e2d3c-4b5a-8697-a8b9-${String(i).padStart(12, '0')}`);
    ids[1] = 'E1';
    ids[2] = '0F1E2D3C-4B5A-8697-A8B9-000000000002';
    ids[3] = '0f1e2d3c-4b5a-8697-a8b9-00000000000g';
    ids[4] = '0f1e2d3c4b5a-8697-a8b9-0000000000004';
    ids[4097] = 'another id';
    await store.appendToStream('s', ids.map((id, i) => event(id, { i })), 'no_stream');
    const { events } = await store.readStream('s');
    expect(events.map((e) => e.id)).toEqual(ids);
    expect(events.map((e) => e.position.commit)).toEqual(ids.map((_, i) => BigInt(i)));
  });

  it('gives the place of an append that failed to the next one, with its own id', async () => {
    const store = new InMemoryEventStore();
    await expect(store.appendToStream('s', [event('not a uuid', { cannot: () => 'be cloned' })], 'no_stream')).rejects.toThrow();
    await store.appendToStream('s', [event('00000000-0000-8000-8000-000000000001', {})], 'no_stream');
    const [stored] = (await store.readStream('s')).events;
    expect(stored!.id).toBe('00000000-0000-8000-8000-000000000001');
    expect(stored!.position).toEqual({ commit: 0n, prepare: 0n });
  });

  it('shows a stored event with its id and position in key listings, spreads and JSON, and answers with the same position', async () => {
    const store = new InMemoryEventStore();
    const result = await store.appendToStream('s', [event('00000000-0000-8000-8000-000000000001', { n: 1 })], 'no_stream');
    const [stored] = (await store.readStream('s')).events;
    expect(Object.keys(stored!).sort()).toEqual(['data', 'id', 'metadata', 'position', 'revision', 'streamId', 'type']);
    expect({ ...stored! }).toEqual({ ...event('00000000-0000-8000-8000-000000000001', { n: 1 }), streamId: 's', revision: 0n, position: result.position });
    expect(JSON.stringify(stored, (_k, v: unknown) => (typeof v === 'bigint' ? Number(v) : v))).toContain('"id":"00000000-0000-8000-8000-000000000001"');
    expect(Object.isFrozen(stored!.position)).toBe(true);
  });

  it('hands a live subscriber the very position object the append answered with, and the right position for every event', async () => {
    const store = new InMemoryEventStore();
    const first = await store.appendToStream('a', [event('00000000-0000-8000-8000-000000000001', { n: 1 })], 'no_stream');
    const feed = store.subscribeToAll()[Symbol.asyncIterator]();
    expect((await feed.next()).value).toMatchObject({ kind: 'event', event: { position: { commit: 0n, prepare: 0n } } });
    expect((await feed.next()).value).toEqual({ kind: 'caught-up' });
    const waiting = feed.next();
    const second = await store.appendToStream('b', [event('00000000-0000-8000-8000-000000000002', { n: 2 })], 'no_stream');
    const live = (await waiting).value as { kind: 'event'; event: { position: unknown } };
    expect(live.event.position).toEqual({ commit: 1n, prepare: 1n });
    // The position last made is kept and handed out again, not made anew for the reader.
    expect(live.event.position).toBe(second.position);
    // Positions made again for earlier places are still right.
    expect((await store.readStream('a')).events[0]!.position).toEqual(first.position);
    expect((await store.readStream('b')).events[0]!.position).toEqual({ commit: 1n, prepare: 1n });
    await feed.return!();
  });

  it('gives the event loop a turn while a reader takes a long history at once, and still hands over every event in order', async () => {
    const store = new InMemoryEventStore();
    const n = 5_000;
    for (let i = 0; i < n; i++) await store.appendToStream(`s${i}`, [event(`e${i}`, { n: i })], 'no_stream');
    let turnAt: number | undefined;
    const seen: number[] = [];
    setImmediate(() => (turnAt = seen.length));
    for await (const item of store.subscribeToAll()) {
      if (item.kind === 'caught-up') break;
      if (item.kind === 'event') seen.push((item.event.data as { n: number }).n);
    }
    expect(seen).toEqual(Array.from({ length: n }, (_, i) => i));
    // The turn came while the history was being read, not only after its end.
    expect(turnAt).toBeGreaterThan(0);
    expect(turnAt).toBeLessThan(n);
  });

  it("answers a new store's first append of several events with its last event's position, and reads every one back at its own", async () => {
    const store = new InMemoryEventStore();
    const result = await store.appendToStream('s', [event('00000000-0000-8000-8000-000000000001', {}), event('00000000-0000-8000-8000-000000000002', {})], 'no_stream');
    expect(result.position).toEqual({ commit: 1n, prepare: 1n });
    expect(Object.isFrozen(result.position)).toBe(true);
    const { events } = await store.readStream('s');
    expect(events.map((e) => e.position)).toEqual([
      { commit: 0n, prepare: 0n },
      { commit: 1n, prepare: 1n },
    ]);
    expect(events[1]!.position).toEqual(result.position);
  });

  it('keeps one metadata object for events that hold the same, and their own for the others', async () => {
    const store = new InMemoryEventStore();
    await store.appendToStream('a', [event('00000000-0000-8000-8000-000000000001', {})], 'no_stream');
    await store.appendToStream('b', [event('00000000-0000-8000-8000-000000000002', {}), event('00000000-0000-8000-8000-000000000003', {})], 'no_stream');
    const other = { ...event('00000000-0000-8000-8000-000000000004', {}), metadata: { ...metadata, correlationId: 'd' } };
    await store.appendToStream('b', [other], 1n);
    const [a] = (await store.readStream('a')).events;
    const b = (await store.readStream('b')).events;
    expect(b[0]!.metadata).toBe(a!.metadata);
    expect(b[1]!.metadata).toBe(a!.metadata);
    expect(b[2]!.metadata).toEqual({ ...metadata, correlationId: 'd' });
    expect(Object.isFrozen(a!.metadata) && Object.isFrozen(b[2]!.metadata)).toBe(true);
  });

  it('reads a stream of one event as an array of it, again after reading another, and appends to it', async () => {
    const store = new InMemoryEventStore();
    await store.appendToStream('one', [event('00000000-0000-8000-8000-000000000001', { n: 1 })], 'no_stream');
    await store.appendToStream('other', [event('00000000-0000-8000-8000-000000000002', { n: 2 })], 'no_stream');
    const first = await store.readStream('one');
    await store.readStream('other');
    const again = await store.readStream('one');
    expect(again.currentRevision).toBe(0n);
    expect(again.events.map((e) => e.data)).toEqual([{ n: 1 }]);
    expect(again.events[0]).toBe(first.events[0]);
    expect(Object.isFrozen(again.events)).toBe(true);
    await store.appendToStream('one', [event('00000000-0000-8000-8000-000000000003', { n: 3 })], 0n);
    expect((await store.readStream('one')).events.map((e) => [e.revision, e.data])).toEqual([
      [0n, { n: 1 }],
      [1n, { n: 3 }],
    ]);
  });

  it('reads a stream back exactly at every length as it grows by one and two events, kept short or long, with each event its own type', async () => {
    const store = new InMemoryEventStore();
    const uuid = (n: number) => `00000000-0000-8000-8000-${String(n).padStart(12, '0')}`;
    // Every other event of a type the domain knows (its records keep it), the others of one it does not (the store keeps it).
    const nth = (n: number): NewEvent =>
      n % 2 === 0 ? { ...event(uuid(n), { n }), type: 'test.happened' } : { ...event(uuid(n), { id: `c${n}` }), type: 'instance.smtp.config.removed' };
    const expected: [bigint, string, unknown][] = [];
    let n = 0;
    for (const size of [1, 1, 2, 1, 2, 1]) {
      const batch = Array.from({ length: size }, () => nth(++n));
      await store.appendToStream('grows', batch, expected.length === 0 ? 'no_stream' : BigInt(expected.length - 1));
      for (const e of batch) expected.push([BigInt(expected.length), e.type, e.data]);
      // Another stream read in between, so that each read below finds the stream as the store keeps it.
      await store.appendToStream(`other-${n}`, [nth(1000 + n)], 'no_stream');
      await store.readStream(`other-${n}`);
      const read = await store.readStream('grows');
      expect(read.currentRevision).toBe(BigInt(expected.length - 1));
      expect(Object.isFrozen(read.events)).toBe(true);
      expect(read.events.map((e) => [e.revision, e.type, e.data])).toEqual(expected);
      expect(read.events.map((e) => e.id)).toEqual(expected.map((_, i) => uuid(i + 1)));
    }
    expect(expected).toHaveLength(8);
  });

  it('lists a stored record\'s keys in the order they had before the type was packed (type before data and metadata), known type or not', async () => {
    const store = new InMemoryEventStore();
    await store.appendToStream(
      's',
      [event('00000000-0000-8000-8000-000000000001', { id: 'c1' }), { ...event('00000000-0000-8000-8000-000000000002', { id: 'c1' }), type: 'instance.smtp.config.removed' }],
      'no_stream',
    );
    const order = ['streamId', 'revision', 'type', 'data', 'metadata', 'id', 'position'];
    for (const record of (await store.readStream('s')).events) {
      expect(Object.keys(record)).toEqual(order);
      // As JSON (a log line, a message) shows it: the same order.
      const json = JSON.stringify(record, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
      expect(Object.keys(JSON.parse(json) as object)).toEqual(order);
    }
  });

  it('shows a stored record as console.log does with its values (type, id, position), not [Getter]', async () => {
    const store = new InMemoryEventStore();
    const id = '00000000-0000-8000-8000-000000000001';
    await store.appendToStream('s', [{ ...event(id, { id: 'c1' }), type: 'instance.smtp.config.removed' }], 'no_stream');
    const [record] = (await store.readStream('s')).events;
    const shown = inspect(record, { depth: Infinity });
    expect(shown).not.toContain('[Getter]');
    expect(shown).toContain("type: 'instance.smtp.config.removed'");
    expect(shown).toContain(`id: '${id}'`);
    expect(shown).toContain('position: { commit: 0n, prepare: 0n }');
  });

  it('gives the events of an append after one that failed midway their own types and ids, at the places the failed one took', async () => {
    const store = new InMemoryEventStore();
    const uuid = (n: number) => `00000000-0000-8000-8000-${String(n).padStart(12, '0')}`;
    await store.appendToStream('s', [event(uuid(1), { n: 1 })], 'no_stream');
    // Its second event cannot be copied (a function in its data): the first place got an unknown type and a non-UUID id, the second one too.
    const failing: NewEvent[] = [
      { ...event('not-a-uuid-1', { n: 2 }), type: 'unknown.first' },
      { ...event('not-a-uuid-2', { f: () => 1 }), type: 'unknown.second' },
    ];
    await expect(store.appendToStream('s', failing, 0n)).rejects.toThrow();
    const known: NewEvent[] = [
      { ...event(uuid(2), { id: 'c2' }), type: 'instance.smtp.config.removed' },
      { ...event(uuid(3), { name: 'n' }), type: 'instance.added' },
    ];
    await store.appendToStream('s', known, 0n);
    await store.appendToStream('t', [event(uuid(4), { n: 4 })], 'no_stream');
    const read = (await store.readStream('s')).events;
    expect(read.map((e) => [e.id, e.type, e.position.commit])).toEqual([
      [uuid(1), 'test.happened', 0n],
      [uuid(2), 'instance.smtp.config.removed', 1n],
      [uuid(3), 'instance.added', 2n],
    ]);
    // A short stream read twice: equal arrays, neither of which a reader can change.
    const again = (await store.readStream('s')).events;
    expect(again).toEqual(read);
    expect(() => (read as unknown as unknown[]).pop()).toThrow(TypeError);
    expect((await store.readStream('s')).events).toHaveLength(3);
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
