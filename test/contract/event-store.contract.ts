import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  comparePositions,
  WrongExpectedRevisionError,
  type EventMetadata,
  type GlobalPosition,
  type NewEvent,
  type SubscriptionItem,
} from '../../src/index.js';
import type { StoreAdapter, StoreUnderTest } from '../support/adapters.js';

let counter = 0;
const uuid = () => {
  const n = (++counter).toString(16).padStart(12, '0');
  return `00000000-0000-4000-8000-${n}`;
};
const metadata: EventMetadata = {
  instanceId: 'i1',
  editorUserId: 'u1',
  createdAt: '2024-06-11T10:37:15.680Z',
  correlationId: 'c1',
  causationId: 'c1',
  schemaVersion: 1,
};
const event = (type = 'test.happened', data: unknown = { n: counter }): NewEvent => ({ id: uuid(), type, data, metadata });

/** Reads a subscription into an array until `until` says stop (or the time runs out). */
const collect = async (
  items: AsyncIterable<SubscriptionItem>,
  until: (seen: SubscriptionItem[]) => boolean,
  timeoutMs = 5_000,
): Promise<SubscriptionItem[]> => {
  const seen: SubscriptionItem[] = [];
  const deadline = Date.now() + timeoutMs;
  for await (const item of items) {
    seen.push(item);
    if (until(seen) || Date.now() > deadline) break;
  }
  return seen;
};
const eventsOf = (items: SubscriptionItem[]) => items.flatMap((i) => (i.kind === 'event' ? [i.event] : []));

/**
 * The event store port's contract. Every adapter runs it: what passes here behaves the same to the
 * use cases and the projection runner.
 */
export const eventStoreContract = (adapter: StoreAdapter): void => {
  describe(`event store contract: ${adapter.name}`, () => {
    let t: StoreUnderTest;
    let stream: string;
    beforeEach(async () => {
      t = await adapter.create();
      stream = `instance-${Date.now()}-${++counter}`;
    });
    afterEach(() => t.close());

    it('reads a missing stream as empty, with no revision', async () => {
      expect(await t.store.readStream(`instance-missing-${counter}`)).toEqual({ currentRevision: undefined, events: [] });
    });

    it('appends to a new stream and reads the events back in order with revisions from 0', async () => {
      const a = event('test.a', { value: 'α' });
      const b = event('test.b', { nested: { list: [1, 2] }, flag: true });
      const result = await t.store.appendToStream(stream, [a, b], 'no_stream');
      expect(result.nextExpectedRevision).toBe(1n);
      const read = await t.store.readStream(stream);
      expect(read.currentRevision).toBe(1n);
      expect(read.events.map((e) => [e.id, e.streamId, e.revision, e.type, e.data])).toEqual([
        [a.id, stream, 0n, 'test.a', { value: 'α' }],
        [b.id, stream, 1n, 'test.b', { nested: { list: [1, 2] }, flag: true }],
      ]);
      expect(read.events[0]!.metadata).toEqual(metadata);
      expect(read.events[1]!.position).toEqual(result.position);
    });

    it('answers reads of several streams at once each with its own events, a missing one and a repeated one included', async () => {
      const streams = [1, 2, 3].map((i) => `${stream}-${i}`);
      await Promise.all(streams.map((s, i) => t.store.appendToStream(s, Array.from({ length: i + 1 }, (_, k) => event('test.n', { s: i, k })), 'no_stream')));
      const reads = await Promise.all([...streams, `${stream}-missing`, streams[1]!].map((s) => t.store.readStream(s)));
      expect(reads.map((r) => [r.currentRevision, r.events.map((e) => [e.streamId, e.revision, e.data])])).toEqual([
        [0n, [[streams[0], 0n, { s: 0, k: 0 }]]],
        [1n, [[streams[1], 0n, { s: 1, k: 0 }], [streams[1], 1n, { s: 1, k: 1 }]]],
        [2n, [[streams[2], 0n, { s: 2, k: 0 }], [streams[2], 1n, { s: 2, k: 1 }], [streams[2], 2n, { s: 2, k: 2 }]]],
        [undefined, []],
        [1n, [[streams[1], 0n, { s: 1, k: 0 }], [streams[1], 1n, { s: 1, k: 1 }]]],
      ]);
    });

    it('reads back events of types the domain knows and types it does not, mixed, as a stream grows from one event to five', async () => {
      // Known types with payloads that fit (a store may check and keep them otherwise), and unknown ones between them.
      const nth = (n: number): NewEvent =>
        n % 3 === 0 ? event(`test.other.${n}`, { n }) : n % 3 === 1 ? event('instance.smtp.config.removed', { id: `c${n}` }) : event('instance.added', { name: `n${n}` });
      const written: NewEvent[] = [];
      let n = 0;
      for (const size of [1, 1, 1, 2]) {
        const batch = Array.from({ length: size }, () => nth(n++));
        const expected = written.length === 0 ? 'no_stream' : BigInt(written.length - 1);
        await t.store.appendToStream(stream, batch, expected);
        written.push(...batch);
        // Another stream in between, then this one twice: the same events every time.
        await t.store.appendToStream(`${stream}-${n}`, [nth(100 + n)], 'no_stream');
        await t.store.readStream(`${stream}-${n}`);
        const reads = [await t.store.readStream(stream), await t.store.readStream(stream)];
        for (const read of reads) {
          expect(read.currentRevision).toBe(BigInt(written.length - 1));
          expect(read.events.map((e) => [e.id, e.revision, e.type, e.data])).toEqual(written.map((e, i) => [e.id, BigInt(i), e.type, e.data]));
          for (const e of read.events) expect(e.metadata).toEqual(metadata);
        }
        expect(reads[1]!.events).toEqual(reads[0]!.events);
        // A retry of the last append, expecting any revision: answered as done, nothing appended twice.
        expect((await t.store.appendToStream(stream, batch, 'any')).nextExpectedRevision).toBe(BigInt(written.length - 1));
      }
      expect((await t.store.readStream(stream)).events).toHaveLength(5);
    });

    it('reads a stream id with a NUL as empty, alone and beside reads of streams that exist', async () => {
      const streams = [1, 2, 3].map((i) => `${stream}-${i}`);
      await Promise.all(streams.map((s, i) => t.store.appendToStream(s, [event('test.n', { s: i })], 'no_stream')));
      const nul = `${stream}-a\u0000b`;
      expect(await t.store.readStream(nul)).toEqual({ currentRevision: undefined, events: [] });
      const reads = await Promise.all([streams[0]!, nul, streams[1]!, nul, streams[2]!].map((s) => t.store.readStream(s)));
      expect(reads.map((r) => [r.currentRevision, r.events.map((e) => e.streamId)])).toEqual([
        [0n, [streams[0]]],
        [undefined, []],
        [0n, [streams[1]]],
        [undefined, []],
        [0n, [streams[2]]],
      ]);
    });

    it('rejects an append whose expected revision does not hold, and writes nothing', async () => {
      await t.store.appendToStream(stream, [event()], 'no_stream');
      await expect(t.store.appendToStream(stream, [event()], 'no_stream')).rejects.toBeInstanceOf(WrongExpectedRevisionError);
      await expect(t.store.appendToStream(stream, [event()], 5n)).rejects.toMatchObject({ streamId: stream, expected: 5n, actual: 0n });
      await expect(t.store.appendToStream(`${stream}-new`, [event()], 0n)).rejects.toBeInstanceOf(WrongExpectedRevisionError);
      expect((await t.store.readStream(stream)).events).toHaveLength(1);
      await t.store.appendToStream(stream, [event()], 0n);
      expect((await t.store.readStream(stream)).currentRevision).toBe(1n);
    });

    it('treats a retried append with the same event ids at the same revision as done once', async () => {
      const first = [event(), event()];
      const original = await t.store.appendToStream(stream, first, 'no_stream');
      const retried = await t.store.appendToStream(stream, first, 'no_stream');
      expect(retried).toEqual(original);
      const read = await t.store.readStream(stream);
      expect(read.events.map((e) => e.id)).toEqual(first.map((e) => e.id));
    });

    it('orders events globally across streams, with increasing positions', async () => {
      const other = `${stream}-other`;
      await t.store.appendToStream(stream, [event()], 'no_stream');
      await t.store.appendToStream(other, [event()], 'no_stream');
      await t.store.appendToStream(stream, [event()], 0n);
      const positions = [
        ...(await t.store.readStream(stream)).events.map((e) => e.position),
        ...(await t.store.readStream(other)).events.map((e) => e.position),
      ].sort(comparePositions);
      const [s0, o0, s1] = [
        (await t.store.readStream(stream)).events[0]!.position,
        (await t.store.readStream(other)).events[0]!.position,
        (await t.store.readStream(stream)).events[1]!.position,
      ];
      expect(positions).toEqual([s0, o0, s1]);
      expect(comparePositions(s0, o0)).toBeLessThan(0);
      expect(comparePositions(o0, s1)).toBeLessThan(0);
      expect(await t.store.headPosition()).toEqual(s1);
    });

    it('subscribes from a position: catches up, says so, then delivers live events', async () => {
      await t.store.appendToStream(stream, [event('test.one')], 'no_stream');
      const { position: after } = await t.store.appendToStream(stream, [event('test.two')], 0n);
      await t.store.appendToStream(stream, [event('test.three')], 1n);
      const abort = new AbortController();
      const feed = t.store.subscribeToAll({ after, streamPrefixes: [stream], signal: abort.signal });
      const seen = collect(feed, (items) => eventsOf(items).length === 2);
      setTimeout(() => void t.store.appendToStream(stream, [event('test.four')], 2n), 50);
      const items = await seen;
      abort.abort();
      expect(eventsOf(items).map((e) => e.type)).toEqual(['test.three', 'test.four']);
      const caughtUpAt = items.findIndex((i) => i.kind === 'caught-up');
      const fourAt = items.findIndex((i) => i.kind === 'event' && i.event.type === 'test.four');
      expect(caughtUpAt).toBeGreaterThanOrEqual(0);
      expect(caughtUpAt).toBeLessThan(fourAt);
    });

    it('filters by stream prefix and still reports progress past filtered events', async () => {
      const other = `zz-${stream}`;
      await t.store.appendToStream(stream, [event('test.mine')], 'no_stream');
      const { position: otherPosition } = await t.store.appendToStream(other, [event('test.theirs')], 'no_stream');
      const abort = new AbortController();
      const items = await collect(
        t.store.subscribeToAll({ streamPrefixes: [stream], signal: abort.signal }),
        (seen) => seen.some((i) => i.kind === 'checkpoint' && comparePositions(i.position, otherPosition) >= 0) || seen.some((i) => i.kind === 'caught-up'),
      );
      abort.abort();
      const types = eventsOf(items).map((e) => e.type);
      expect(types).toContain('test.mine');
      expect(types).not.toContain('test.theirs');
    });

    it('gives a head for stream prefixes that a feed filtered to those streams reaches', async () => {
      const mine = await t.store.appendToStream(stream, [event()], 'no_stream');
      await t.store.appendToStream(`zz-${stream}`, [event()], 'no_stream');
      const head = await t.store.headPosition({ streamPrefixes: [stream] });
      expect(head).toBeDefined();
      expect(comparePositions(head!, mine.position)).toBeGreaterThanOrEqual(0);
      const abort = new AbortController();
      const items = await collect(t.store.subscribeToAll({ streamPrefixes: [stream], signal: abort.signal }), (seen) => seen.some((i) => i.kind === 'caught-up'));
      abort.abort();
      const reached = items.flatMap((i) => (i.kind === 'event' ? [i.event.position] : i.kind === 'checkpoint' ? [i.position] : []));
      expect(reached.some((p) => comparePositions(p, head!) >= 0)).toBe(true);
    });

    it('fails an open subscription when it is dropped, and resumes from the last position seen', async (ctx) => {
      if (t.shared) ctx.skip(true, 'a real EventStoreDB cannot be told to drop a subscription; the in-process server covers this');
      await t.store.appendToStream(stream, [event('test.1'), event('test.2')], 'no_stream');
      const abort = new AbortController();
      const seen: SubscriptionItem[] = [];
      let failure: unknown;
      try {
        for await (const item of t.store.subscribeToAll({ streamPrefixes: [stream], signal: abort.signal })) {
          seen.push(item);
          if (item.kind === 'caught-up') t.dropSubscriptions();
        }
      } catch (error) {
        failure = error;
      }
      expect(failure).toBeInstanceOf(Error);
      const last: GlobalPosition = eventsOf(seen).at(-1)!.position;
      await t.store.appendToStream(stream, [event('test.3')], 1n);
      const resumed = await collect(
        t.store.subscribeToAll({ after: last, streamPrefixes: [stream], signal: abort.signal }),
        (items) => eventsOf(items).length >= 1,
      );
      abort.abort();
      expect(eventsOf(seen).map((e) => e.type)).toEqual(['test.1', 'test.2']);
      expect(eventsOf(resumed).map((e) => e.type)).toEqual(['test.3']);
    });
  });
};
