import {
  checkedRecord,
  isDeepFrozen,
  deepFreeze,
  WrongExpectedRevisionError,
  type AppendResult,
  type EventStore,
  type ExpectedRevision,
  type GlobalPosition,
  type HeadOptions,
  type NewEvent,
  type ReadModelChange,
  type ReadStreamResult,
  type RecordedEvent,
  type SubscribeOptions,
  type SubscriptionItem,
} from '../../application/index.js';
import type { InlineProjectionOptions } from '../inline-projection.js';

const NO_EVENTS: readonly RecordedEvent[] = Object.freeze([]);
const NO_CHANGES: readonly ReadModelChange[] = Object.freeze([]);

/** Revisions as bigints, the first few thousand shared rather than allocated on every read and append. */
const SMALL_REVISIONS: readonly bigint[] = Array.from({ length: 4096 }, (_, i) => BigInt(i));
const revisionAt = (n: number): bigint => (n < 4096 ? SMALL_REVISIONS[n]! : BigInt(n));

/**
 * A read model that an append can write in the same synchronous step (see
 * {@link InMemoryEventStore.projectInline}); the in-memory read model is one.
 */
export interface InlineProjectionTarget {
  /**
   * Applies `changes` and moves the checkpoint to `position` if, and only if, the checkpoint is now
   * exactly `head` (undefined: nothing applied yet); says whether it did. Synchronous and atomic.
   */
  applyAtHead(head: GlobalPosition | undefined, changes: readonly ReadModelChange[], position: GlobalPosition): boolean;
}

/** The in-memory store's inline projection takes what PostgreSQL's does. */
export type InMemoryInlineProjectionOptions = InlineProjectionOptions;

const DONE: IteratorResult<SubscriptionItem> = Object.freeze({ done: true, value: undefined });
const CAUGHT_UP: IteratorResult<SubscriptionItem> = Object.freeze({ done: false, value: Object.freeze({ kind: 'caught-up' }) });

/**
 * An event store in memory. Each stream has its own index, so reading a stream costs that stream's
 * length, not the store's size. Every event has a global position (commit = prepare = its place in
 * the log). Appends check the expected revision and are idempotent when retried with the same event
 * ids at the same revision, as EventStoreDB's are.
 */
export class InMemoryEventStore implements EventStore {
  protected readonly log: RecordedEvent[] = [];
  /**
   * Each stream is a frozen array of exactly its events, replaced by a longer one on append: a read
   * hands out the stored array itself (no copy per read), and a stream holds no spare capacity (a
   * growing array keeps room for 16 more elements, about 130 bytes per stream). The array sits in a
   * holder that stays the same for the stream's life, so an append replaces it without writing the
   * map again.
   */
  private readonly streams = new Map<string, { events: readonly RecordedEvent[] }>();
  /**
   * The stream last looked up: a command reads its stream and then appends to it, so the append
   * usually finds its stream here rather than in a map of every stream (holders are never replaced
   * or removed, so this can never be stale).
   */
  private lastStreamId: string | undefined;
  private lastStream: { events: readonly RecordedEvent[] } | undefined;
  private wake: (() => void)[] = [];
  private dropError: Error | undefined;
  private dropGeneration = 0;
  private inline: (InMemoryInlineProjectionOptions & { readonly target: InlineProjectionTarget }) | undefined;

  /**
   * Projects inline into `readModel`: an append that finds the read model at the log's head (its
   * checkpoint is the last event before the append) applies its own events' changes and moves the
   * checkpoint in the same synchronous step, and tells `onProjected`, before the append returns; so
   * a command can answer from the read model without waiting for the runner to be woken, decide and
   * apply. The runner still follows the log: it catches up whatever could not go inline (after a
   * start or a rebuild, while it is behind, or an event the handler refused, which it then stops
   * on) and skips what did. As PostgreSQL's `projectInline` does, in one transaction there.
   */
  projectInline(readModel: InlineProjectionTarget, options: InMemoryInlineProjectionOptions): void {
    this.inline = { ...options, target: readModel };
  }

  async readStream(streamId: string): Promise<ReadStreamResult> {
    const stream = this.holder(streamId)?.events;
    if (!stream) return { currentRevision: undefined, events: NO_EVENTS };
    return { currentRevision: revisionAt(stream.length - 1), events: stream };
  }

  private holder(streamId: string): { events: readonly RecordedEvent[] } | undefined {
    if (streamId === this.lastStreamId) return this.lastStream;
    const holder = this.streams.get(streamId);
    if (holder) {
      this.lastStreamId = streamId;
      this.lastStream = holder;
    }
    return holder;
  }

  async appendToStream(streamId: string, events: readonly NewEvent[], expected: ExpectedRevision): Promise<AppendResult> {
    return this.appendNow(streamId, events, expected);
  }

  /** Synchronous, so that the check and the write are one step that no other append can split. */
  protected appendNow(streamId: string, events: readonly NewEvent[], expected: ExpectedRevision): AppendResult {
    const holder = this.holder(streamId);
    const stream = holder?.events;
    const length = stream ? stream.length : 0;
    const ok =
      expected === 'any' ||
      (expected === 'no_stream' ? stream === undefined : stream !== undefined && length > 0 && revisionAt(length - 1) === expected);
    // A retry of an append that was done already finds the stream past the revision it expected, so
    // it is looked for only then (or when any revision would do), never on the common path.
    if (!ok || expected === 'any') {
      const retried = stream && this.retriedAppend(stream, events, expected);
      if (retried) return retried;
      if (!ok) throw new WrongExpectedRevisionError(streamId, expected, stream ? revisionAt(length - 1) : undefined);
    }
    if (events.length === 0) {
      const head = this.log.at(-1);
      return { nextExpectedRevision: stream ? revisionAt(length - 1) : -1n, position: head?.position ?? { commit: -1n, prepare: -1n } };
    }
    const records: RecordedEvent[] = new Array(events.length);
    const base = this.log.length;
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!;
      const index = BigInt(base + i);
      // Recorded events are frozen and shared by every reader. Data and metadata that are frozen
      // already (the command handler freezes what it appends) are kept as they are; anything else
      // is copied first, so that the caller cannot change a stored event afterwards.
      // The payload is checked here, once, and kept with the record (see checkedRecord), for every
      // fold and the projection to read rather than check again.
      records[i] = checkedRecord({
        id: e.id,
        streamId,
        revision: revisionAt(length + i),
        position: Object.freeze({ commit: index, prepare: index }),
        type: e.type,
        data: isDeepFrozen(e.data) ? e.data : deepFreeze(structuredClone(e.data)),
        metadata: Object.isFrozen(e.metadata) ? e.metadata : Object.freeze({ ...e.metadata }),
      });
    }
    this.persist(records);
    if (holder) {
      // The common case, one stream known already: no second lookup by stream id.
      for (const r of records) this.log.push(r);
      holder.events = Object.freeze(holder.events.concat(records));
    } else {
      this.index(records);
    }
    const last = records[records.length - 1]!;
    // Projected inline before anyone hears of the append (the feed, the appender), so that a command
    // waiting for its own position finds it reached. Subscribers hear of an append at once, unless
    // the read model holds it already: then the runner has nothing to do for it but move on, and
    // they hear of it on the event loop's next turn, with whatever else went inline in this one (one
    // wake-up for a burst of commands instead of one per command).
    if (this.inline && this.projectNow(this.inline, records, base === 0 ? undefined : this.log[base - 1]!.position, last.position)) this.notifySoon();
    else this.notify();
    return { nextExpectedRevision: last.revision, position: last.position };
  }

  /**
   * The inline projection of one append: its events' changes (none for streams the projection
   * ignores), applied only if the read model stands just before them. A handler that throws leaves
   * the append to the runner, which decides it again and stops there on a refused event; the append
   * itself is done either way.
   */
  private projectNow(
    inline: InMemoryInlineProjectionOptions & { readonly target: InlineProjectionTarget },
    records: readonly RecordedEvent[],
    head: GlobalPosition | undefined,
    position: GlobalPosition,
  ): boolean {
    const { handler, streamPrefixes, target, onProjected } = inline;
    const streamId = records[0]!.streamId;
    let changes: readonly ReadModelChange[] = NO_CHANGES;
    if (!streamPrefixes || streamPrefixes.some((p) => streamId.startsWith(p))) {
      try {
        if (records.length === 1) changes = handler(records[0]!);
        else changes = records.flatMap((r) => handler(r));
      } catch {
        return false;
      }
    }
    if (!target.applyAtHead(head, changes, position)) return false;
    try {
      onProjected?.(position);
    } catch {
      // The append is done and the read model holds it: a failing listener must not fail the
      // append. Whoever waits for it still sees it when the runner passes it.
    }
    return true;
  }

  /** Hook for durable subclasses: called before the events become visible; throwing aborts the append. */
  protected persist(_records: readonly RecordedEvent[]): void {}

  protected index(records: readonly RecordedEvent[]): void {
    for (const r of records) {
      const holder = this.streams.get(r.streamId);
      if (holder) holder.events = Object.freeze([...holder.events, r]);
      else this.streams.set(r.streamId, { events: Object.freeze([r]) });
      this.log.push(r);
    }
  }

  /**
   * The same events, with the same ids, at the revision the first attempt expected: answer as then.
   * Found in the stream itself (with `any`, wherever the first id is), so the store keeps no index of
   * every event id.
   */
  private retriedAppend(stream: readonly RecordedEvent[], events: readonly NewEvent[], expected: ExpectedRevision): AppendResult | undefined {
    const first = events[0];
    if (!first) return undefined;
    const start =
      expected === 'no_stream' ? 0 : expected === 'any' ? stream.findLastIndex((r) => r.id === first.id) : Number(expected) + 1;
    if (start < 0) return undefined;
    let last: RecordedEvent | undefined;
    for (let i = 0; i < events.length; i++) {
      const stored = stream[start + i];
      if (!stored || stored.id !== events[i]!.id) return undefined;
      last = stored;
    }
    return { nextExpectedRevision: last!.revision, position: last!.position };
  }

  async headPosition(options: HeadOptions = {}): Promise<GlobalPosition | undefined> {
    const { streamPrefixes } = options;
    if (!streamPrefixes) return this.log.at(-1)?.position;
    return this.log.findLast((r) => streamPrefixes.some((p) => r.streamId.startsWith(p)))?.position;
  }

  /**
   * A cursor over the log, written as a plain async iterator rather than an async generator: an
   * item that is ready is handed over in an already settled promise, so following live events costs
   * one promise per item instead of a generator's several turns of the microtask queue. `next` is
   * meant to be called one at a time, as `for await` and the projection runner do.
   */
  subscribeToAll(options: SubscribeOptions = {}): AsyncIterable<SubscriptionItem> {
    return { [Symbol.asyncIterator]: () => this.cursor(options) };
  }

  private cursor(options: SubscribeOptions): AsyncIterator<SubscriptionItem> {
    const { signal, streamPrefixes } = options;
    const log = this.log;
    let next = options.after ? Number(options.after.commit) + 1 : 0;
    let caughtUp = false;
    let finished = false;
    const generation = this.dropGeneration;
    const accepts = (r: RecordedEvent) =>
      !r.streamId.startsWith('$') && (!streamPrefixes || streamPrefixes.some((p) => r.streamId.startsWith(p)));
    /** An accepted event found after skipped ones: handed over right after their checkpoint. */
    let held: RecordedEvent | undefined;
    /** The pending `next`'s promise, while it waits for an append (or an abort, or a drop). */
    let pending: { resolve: (r: IteratorResult<SubscriptionItem>) => void; reject: (e: unknown) => void } | undefined;
    let registered = false;
    /** One wake-up for the whole subscription (no closure made per wait), also its abort listener. */
    const wake = (): void => {
      registered = false;
      const waiter = pending;
      if (!waiter) return;
      let ready: IteratorResult<SubscriptionItem> | undefined;
      try {
        ready = step();
      } catch (error) {
        pending = undefined;
        return waiter.reject(error);
      }
      if (ready) {
        pending = undefined;
        return waiter.resolve(ready);
      }
      listen();
    };
    const listen = (): void => {
      if (registered) return;
      registered = true;
      this.wake.push(wake);
    };
    signal?.addEventListener('abort', wake, { once: true });
    const finish = (): IteratorResult<SubscriptionItem> => {
      if (!finished) {
        finished = true;
        signal?.removeEventListener('abort', wake);
      }
      return DONE;
    };
    /** The next item if there is one now, or undefined when the cursor has to wait for an append. */
    const step = (): IteratorResult<SubscriptionItem> | undefined => {
      if (finished) return DONE;
      if (held) {
        const event = held;
        held = undefined;
        return { done: false, value: { kind: 'event', event } };
      }
      if (signal?.aborted) return finish();
      if (this.dropGeneration !== generation) {
        finish();
        throw this.dropError ?? new Error('subscription dropped');
      }
      let skipped: GlobalPosition | undefined;
      while (next < log.length) {
        const record = log[next++]!;
        if (accepts(record)) {
          if (!skipped) return { done: false, value: { kind: 'event', event: record } };
          held = record;
          return { done: false, value: { kind: 'checkpoint', position: skipped } };
        }
        skipped = record.position;
      }
      if (skipped) return { done: false, value: { kind: 'checkpoint', position: skipped } };
      if (!caughtUp) {
        caughtUp = true;
        return CAUGHT_UP;
      }
      return undefined;
    };
    return {
      next: () => {
        try {
          const ready = step();
          if (ready) return Promise.resolve(ready);
        } catch (error) {
          return Promise.reject(error);
        }
        return new Promise<IteratorResult<SubscriptionItem>>((resolve, reject) => {
          pending = { resolve, reject };
          listen();
        });
      },
      return: () => {
        finish();
        wake();
        return Promise.resolve(DONE);
      },
    };
  }

  /** Test hook: makes every open subscription fail with `error`, the way a dropped connection does. */
  dropSubscriptions(error: Error = new Error('subscription dropped by the server')): void {
    this.dropError = error;
    this.dropGeneration++;
    this.notify();
  }

  async close(): Promise<void> {
    this.dropSubscriptions(new Error('event store closed'));
  }

  private notifyArmed = false;
  private readonly notifyArmedNow = (): void => {
    this.notifyArmed = false;
    this.notify();
  };

  /** {@link notify} on the event loop's next turn, once for every append until then. */
  private notifySoon(): void {
    if (this.notifyArmed) return;
    this.notifyArmed = true;
    setImmediate(this.notifyArmedNow);
  }

  private notify(): void {
    if (this.wake.length === 0) return;
    const wake = this.wake;
    this.wake = [];
    for (const w of wake) w();
  }
}
