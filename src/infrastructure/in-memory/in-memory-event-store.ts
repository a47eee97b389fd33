import {
  bigintOf,
  recordMaker,
  isDeepFrozen,
  isPackedEventType,
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
  type RecordLocator,
  type SubscribeOptions,
  type SubscriptionItem,
} from '../../application/index.js';
import type { InlineProjectionOptions } from '../inline-projection.js';

const NO_EVENTS: readonly RecordedEvent[] = Object.freeze([]);
const NO_CHANGES: readonly ReadModelChange[] = Object.freeze([]);

/** Revisions as bigints, the first few thousand shared rather than allocated on every read and append. */
const revisionAt = bigintOf;

/** The value of a lowercase hex digit's char code, or -1. */
const hexValue = (c: number): number => (c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x66 ? c - 0x57 : -1);
const HEX_DIGITS = Buffer.from('0123456789abcdef', 'latin1');
/** Where an id is written out again (ids are read one at a time, synchronously). */
const idScratch = Buffer.alloc(36);
/** The places of a UUID's hex digits in its 36 characters. */
const UUID_DIGITS: readonly number[] = Array.from({ length: 36 }, (_, i) => i).filter((i) => i !== 8 && i !== 13 && i !== 18 && i !== 23);

/**
 * Writes `id` into `bytes` at `offset` as 16 bytes if it is a UUID in canonical lowercase form (as
 * deriveEventId makes them), so that it reads back exactly; says whether it was one.
 */
const packUuid = (id: string, bytes: Uint8Array, offset: number): boolean => {
  if (id.length !== 36 || id.charCodeAt(8) !== 0x2d || id.charCodeAt(13) !== 0x2d || id.charCodeAt(18) !== 0x2d || id.charCodeAt(23) !== 0x2d) return false;
  for (let i = 0; i < 32; i += 2) {
    const hi = hexValue(id.charCodeAt(UUID_DIGITS[i]!));
    const lo = hexValue(id.charCodeAt(UUID_DIGITS[i + 1]!));
    if (hi < 0 || lo < 0) return false;
    bytes[offset + i / 2] = (hi << 4) | lo;
  }
  return true;
};

const unpackUuid = (bytes: Uint8Array, offset: number): string => {
  idScratch[8] = idScratch[13] = idScratch[18] = idScratch[23] = 0x2d;
  for (let i = 0; i < 32; i += 2) {
    const b = bytes[offset + i / 2]!;
    idScratch[UUID_DIGITS[i]!] = HEX_DIGITS[b >> 4]!;
    idScratch[UUID_DIGITS[i + 1]!] = HEX_DIGITS[b & 15]!;
  }
  return idScratch.toString('latin1', 0, 36);
};

/** Event ids kept in one chunk of bytes (64 KiB). */
const IDS_PER_CHUNK = 4096;

/** Whether two frozen metadata objects hold the same fields with the same values (they hold only strings and numbers). */
const sameMetadata = (a: object, b: object): boolean => {
  let keys = 0;
  for (const key in a) {
    if (!Object.hasOwn(a, key)) continue;
    keys++;
    if (!Object.hasOwn(b, key) || (a as Record<string, unknown>)[key] !== (b as Record<string, unknown>)[key]) return false;
  }
  for (const key in b) if (Object.hasOwn(b, key)) keys--;
  return keys === 0;
};

/** The records of a stream of two or three events, in fields rather than an array (see InMemoryEventStore.streams). */
class ShortStream {
  constructor(
    readonly first: RecordedEvent,
    readonly second: RecordedEvent,
    readonly third: RecordedEvent | undefined,
  ) {}
}

/** A stream as the store keeps it: the record of a stream of one, a ShortStream, or a frozen array of four or more. */
type KeptStream = RecordedEvent | ShortStream | readonly RecordedEvent[];

const keptStream = (records: readonly RecordedEvent[]): KeptStream =>
  records.length === 1
    ? records[0]!
    : records.length <= 3
      ? new ShortStream(records[0]!, records[1]!, records[2])
      : Object.isFrozen(records)
        ? records
        : Object.freeze(records.slice());

/** A kept stream's records as a frozen array. */
const arrayOf = (kept: KeptStream): readonly RecordedEvent[] =>
  Array.isArray(kept)
    ? (kept as readonly RecordedEvent[])
    : kept instanceof ShortStream
      ? Object.freeze(kept.third === undefined ? [kept.first, kept.second] : [kept.first, kept.second, kept.third])
      : Object.freeze([kept as RecordedEvent]);

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

/**
 * Items a cursor hands over in a row, without waiting, before it gives the event loop a turn (about
 * 1-2 ms of a runner's work): more than a burst of commands between two turns usually appends.
 */
const CURSOR_BURST = 2_048;

const DONE: IteratorResult<SubscriptionItem> = Object.freeze({ done: true, value: undefined });
const CAUGHT_UP: IteratorResult<SubscriptionItem> = Object.freeze({ done: false, value: Object.freeze({ kind: 'caught-up' }) });

/**
 * An event store in memory. Each stream has its own index, so reading a stream costs that stream's
 * length, not the store's size. Every event has a global position (commit = prepare = its place in
 * the log). Appends check the expected revision and are idempotent when retried with the same event
 * ids at the same revision, as EventStoreDB's are.
 */
export class InMemoryEventStore implements EventStore, RecordLocator {
  protected readonly log: RecordedEvent[] = [];
  /**
   * Each stream is kept as exactly its events, replaced on append (a growing array keeps room for 16
   * more elements, about 130 bytes per stream). A stream of four or more is a frozen array of them,
   * which a read hands out itself (no copy per read). A short stream is kept smaller, and a read of
   * it makes its array: a stream of one event (every domain claim) as that record alone, one array
   * less, 56 bytes; of two or three (an instance with its domain, and its configuration) as a
   * ShortStream, 16 or 24 bytes less than the array.
   */
  private readonly streams = new Map<string, KeptStream>();
  /**
   * The stream last looked up: a command reads its stream and then appends to it, so the append
   * usually finds its stream here rather than in a map of every stream (an append to it replaces
   * both, and streams are never removed, so this can never be stale).
   */
  private lastStreamId: string | undefined;
  private lastStream: readonly RecordedEvent[] | undefined;
  /**
   * The records keep neither their ids nor their positions (see recordMaker): a position is the
   * record's place in the log, and an id that is a UUID (as every command's is) is kept here, as 16
   * bytes, rather than as a 36-character string of 56 bytes; in chunks of {@link IDS_PER_CHUNK}, so
   * that the store neither copies them as it grows nor holds more than one chunk of spare room.
   * Other ids are kept as they are, in `otherIds`.
   */
  private readonly idChunks: Uint8Array[] = [];
  private readonly otherIds = new Map<number, string>();
  /** The types of events whose type a record does not keep itself (see RecordLocator.typeAt), by place. */
  private readonly otherTypes = new Map<number, string>();
  /**
   * The metadata last stored: an event whose metadata holds the same (the events of one command,
   * or of the commands of one set-up, which share their command id and time) keeps that very object.
   */
  private lastMetadata: RecordedEvent['metadata'] | undefined;
  /** Makes this store's records (see recordMaker). */
  private readonly record = recordMaker(this);
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

  // readStream and appendToStream are not `async` functions: each returns one settled promise, where
  // an async function also makes its own state object and an await's worth of work per call.
  readStream(streamId: string): Promise<ReadStreamResult> {
    const stream = this.stream(streamId);
    if (!stream) return Promise.resolve({ currentRevision: undefined, events: NO_EVENTS });
    return Promise.resolve({ currentRevision: revisionAt(stream.length - 1), events: stream });
  }

  private stream(streamId: string): readonly RecordedEvent[] | undefined {
    if (streamId === this.lastStreamId) return this.lastStream;
    const kept = this.streams.get(streamId);
    if (kept === undefined) return undefined;
    const stream = arrayOf(kept);
    this.lastStreamId = streamId;
    this.lastStream = stream;
    return stream;
  }

  /** For the records (see RecordLocator): the id of the event at place `at` of the log. */
  idAt(at: number): string {
    return this.otherIds.get(at) ?? unpackUuid(this.idChunks[Math.floor(at / IDS_PER_CHUNK)]!, (at % IDS_PER_CHUNK) * 16);
  }

  /** For the records (see RecordLocator): the type of the event at place `at`, one the records do not keep. */
  typeAt(at: number): string {
    return this.otherTypes.get(at)!;
  }

  /**
   * For the records (see RecordLocator): the global position of the event at place `at` of the log.
   * The last one made is kept and handed out again (positions are frozen): the append that makes
   * an event's position, the subscription that then delivers the event, and the next append's
   * inline projection (which names it as the head it expects) ask for the same one.
   */
  positionAt(at: number): GlobalPosition {
    if (at === this.lastPositionAt) return this.lastPosition!;
    const index = BigInt(at);
    const position = Object.freeze({ commit: index, prepare: index });
    this.lastPositionAt = at;
    this.lastPosition = position;
    return position;
  }
  private lastPositionAt = -1;
  private lastPosition: GlobalPosition | undefined;

  private keepId(at: number, id: string): void {
    const chunk = Math.floor(at / IDS_PER_CHUNK);
    // Places are taken in order, one at a time, so a new chunk is needed only at a chunk's first place.
    if (chunk === this.idChunks.length) this.idChunks.push(new Uint8Array(16 * IDS_PER_CHUNK));
    if (!packUuid(id, this.idChunks[chunk]!, (at % IDS_PER_CHUNK) * 16)) this.otherIds.set(at, id);
    // An append that failed after keeping an id leaves its place to the next one.
    else if (this.otherIds.size !== 0) this.otherIds.delete(at);
  }

  private keepType(at: number, type: string): void {
    if (!isPackedEventType(type)) this.otherTypes.set(at, type);
    else if (this.otherTypes.size !== 0) this.otherTypes.delete(at);
  }

  /** Frozen metadata of its own, or the metadata last stored when this holds the same. */
  private sharedMetadata(metadata: RecordedEvent['metadata']): RecordedEvent['metadata'] {
    const kept = Object.isFrozen(metadata) ? metadata : Object.freeze({ ...metadata });
    const last = this.lastMetadata;
    if (last !== undefined && sameMetadata(last, kept)) return last;
    this.lastMetadata = kept;
    return kept;
  }

  appendToStream(streamId: string, events: readonly NewEvent[], expected: ExpectedRevision): Promise<AppendResult> {
    try {
      return Promise.resolve(this.appendNow(streamId, events, expected));
    } catch (error) {
      // Refused (a wrong expected revision, a payload that fails its schema): a rejected promise,
      // never a throw from the call itself, as from an async function.
      return Promise.reject(error);
    }
  }

  /** Synchronous, so that the check and the write are one step that no other append can split. */
  protected appendNow(streamId: string, events: readonly NewEvent[], expected: ExpectedRevision): AppendResult {
    const stream = this.stream(streamId);
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
    // The stream's own id string, when it has one already, rather than the caller's copy of it.
    const id = stream ? stream[0]!.streamId : streamId;
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!;
      // Recorded events are frozen and shared by every reader. Data and metadata that are frozen
      // already (the command handler freezes what it appends) are kept as they are; anything else
      // is copied first, so that the caller cannot change a stored event afterwards.
      // The payload is checked here, once, and its state kept with the record (see recordMaker),
      // for every fold and the projection to read rather than check again.
      this.keepId(base + i, e.id);
      this.keepType(base + i, e.type);
      records[i] = this.record(base + i, {
        streamId: id,
        revision: revisionAt(length + i),
        type: e.type,
        data: isDeepFrozen(e.data) ? e.data : deepFreeze(structuredClone(e.data)),
        metadata: this.sharedMetadata(e.metadata),
      });
    }
    this.persist(records);
    if (stream) {
      // The common case, one stream known already: no second lookup to find it.
      for (const r of records) this.log.push(r);
      const longer = Object.freeze(stream.concat(records));
      this.streams.set(id, keptStream(longer));
      if (this.lastStreamId === streamId) this.lastStream = longer;
    } else {
      this.index(records);
    }
    const last = records[records.length - 1]!;
    // The head the inline projection expects first, then this append's position: positionAt keeps
    // the last one it made, so the head is the one the previous append (or its delivery) made, and
    // the position made here is the one the subscription hands out with the event.
    const head = this.inline && base !== 0 ? this.positionAt(base - 1) : undefined;
    const position = this.positionAt(base + records.length - 1);
    // Projected inline before anyone hears of the append (the feed, the appender), so that a command
    // waiting for its own position finds it reached. Subscribers hear of an append at once, unless
    // the read model holds it already: then the runner has nothing to do for it but move on, and
    // they hear of it on the event loop's next turn, with whatever else went inline in this one (one
    // wake-up for a burst of commands instead of one per command).
    if (this.inline && this.projectNow(this.inline, records, head, position)) this.notifySoon();
    else this.notify();
    return { nextExpectedRevision: last.revision, position };
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

  /** The records of a stream that is new. */
  protected index(records: readonly RecordedEvent[]): void {
    for (const r of records) this.log.push(r);
    this.streams.set(records[0]!.streamId, keptStream(records));
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
    /** Items handed over since the cursor last waited or gave the event loop a turn. */
    let burst = 0;
    return {
      next: () => {
        try {
          const ready = step();
          if (ready) {
            // A reader that takes every item at once (the runner catching up on a long history)
            // would otherwise hold the event loop in one chain of microtasks until the end of the
            // log: every CURSOR_BURST items, the next one comes on the event loop's next turn.
            if (++burst < CURSOR_BURST) return Promise.resolve(ready);
            burst = 0;
            return new Promise<IteratorResult<SubscriptionItem>>((resolve) => setImmediate(resolve, ready));
          }
        } catch (error) {
          return Promise.reject(error);
        }
        burst = 0;
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
