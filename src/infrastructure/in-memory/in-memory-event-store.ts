import {
  isDeepFrozen,
  deepFreeze,
  WrongExpectedRevisionError,
  type AppendResult,
  type EventStore,
  type ExpectedRevision,
  type GlobalPosition,
  type HeadOptions,
  type NewEvent,
  type ReadStreamResult,
  type RecordedEvent,
  type SubscribeOptions,
  type SubscriptionItem,
} from '../../application/index.js';

/**
 * An event store in memory. Each stream has its own index, so reading a stream costs that stream's
 * length, not the store's size. Every event has a global position (commit = prepare = its place in
 * the log). Appends check the expected revision and are idempotent when retried with the same event
 * ids at the same revision, as EventStoreDB's are.
 */
export class InMemoryEventStore implements EventStore {
  protected readonly log: RecordedEvent[] = [];
  private readonly streams = new Map<string, RecordedEvent[]>();
  private wake: (() => void)[] = [];
  private dropError: Error | undefined;
  private dropGeneration = 0;

  async readStream(streamId: string): Promise<ReadStreamResult> {
    const stream = this.streams.get(streamId);
    if (!stream) return { currentRevision: undefined, events: [] };
    return { currentRevision: BigInt(stream.length - 1), events: stream.slice() };
  }

  async appendToStream(streamId: string, events: readonly NewEvent[], expected: ExpectedRevision): Promise<AppendResult> {
    return this.appendNow(streamId, events, expected);
  }

  /** Synchronous, so that the check and the write are one step that no other append can split. */
  protected appendNow(streamId: string, events: readonly NewEvent[], expected: ExpectedRevision): AppendResult {
    const stream = this.streams.get(streamId);
    const current = stream ? BigInt(stream.length - 1) : undefined;
    const ok = expected === 'any' || (expected === 'no_stream' ? current === undefined : current === expected);
    // A retry of an append that was done already finds the stream past the revision it expected, so
    // it is looked for only then (or when any revision would do), never on the common path.
    if (!ok || expected === 'any') {
      const retried = stream && this.retriedAppend(stream, events, expected);
      if (retried) return retried;
      if (!ok) throw new WrongExpectedRevisionError(streamId, expected, current);
    }
    if (events.length === 0) {
      const head = this.log.at(-1);
      return { nextExpectedRevision: current ?? -1n, position: head?.position ?? { commit: -1n, prepare: -1n } };
    }
    const records: RecordedEvent[] = events.map((e, i) => {
      const index = BigInt(this.log.length + i);
      // Recorded events are frozen and shared by every reader. Data and metadata that are frozen
      // already (the command handler freezes what it appends) are kept as they are; anything else
      // is copied first, so that the caller cannot change a stored event afterwards.
      return Object.freeze({
        id: e.id,
        streamId,
        revision: (current ?? -1n) + BigInt(i + 1),
        position: Object.freeze({ commit: index, prepare: index }),
        type: e.type,
        data: isDeepFrozen(e.data) ? e.data : deepFreeze(structuredClone(e.data)),
        metadata: Object.isFrozen(e.metadata) ? e.metadata : Object.freeze({ ...e.metadata }),
      });
    });
    this.persist(records);
    this.index(records);
    const last = records.at(-1)!;
    this.notify();
    return { nextExpectedRevision: last.revision, position: last.position };
  }

  /** Hook for durable subclasses: called before the events become visible; throwing aborts the append. */
  protected persist(_records: readonly RecordedEvent[]): void {}

  protected index(records: readonly RecordedEvent[]): void {
    for (const r of records) {
      let stream = this.streams.get(r.streamId);
      if (!stream) this.streams.set(r.streamId, (stream = []));
      stream.push(r);
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

  async *subscribeToAll(options: SubscribeOptions = {}): AsyncIterable<SubscriptionItem> {
    const { signal, streamPrefixes } = options;
    let next = options.after ? Number(options.after.commit) + 1 : 0;
    let caughtUp = false;
    const generation = this.dropGeneration;
    const accepts = (r: RecordedEvent) =>
      !r.streamId.startsWith('$') && (!streamPrefixes || streamPrefixes.some((p) => r.streamId.startsWith(p)));
    // One abort listener for the whole subscription (not one added and removed per wait).
    let waiting: (() => void) | undefined;
    const onAbort = () => waiting?.();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      while (!signal?.aborted) {
        if (this.dropGeneration !== generation) throw this.dropError ?? new Error('subscription dropped');
        let skipped: GlobalPosition | undefined;
        while (next < this.log.length) {
          const record = this.log[next++]!;
          if (accepts(record)) {
            if (skipped) yield { kind: 'checkpoint', position: skipped };
            skipped = undefined;
            yield { kind: 'event', event: record };
            if (signal?.aborted || this.dropGeneration !== generation) break;
          } else {
            skipped = record.position;
          }
        }
        if (skipped) yield { kind: 'checkpoint', position: skipped };
        if (this.dropGeneration !== generation) continue;
        if (!caughtUp) {
          caughtUp = true;
          yield { kind: 'caught-up' };
        }
        if (next >= this.log.length && this.dropGeneration === generation && !signal?.aborted) {
          await new Promise<void>((resolve) => {
            waiting = resolve;
            this.wake.push(resolve);
          });
          waiting = undefined;
        }
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
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

  private notify(): void {
    const wake = this.wake;
    this.wake = [];
    for (const w of wake) w();
  }
}
