import {
  ANY,
  BACKWARDS,
  END,
  EventStoreDBClient,
  excludeSystemEvents,
  jsonEvent,
  NO_STREAM,
  START,
  StreamNotFoundError,
  streamNameFilter,
  WrongExpectedVersionError,
  type AllStreamSubscription,
  type AppendExpectedRevision,
  type Filter,
  type JSONType,
  type Position,
  type ResolvedEvent,
} from '@eventstore/db-client';
import {
  WrongExpectedRevisionError,
  type AppendResult,
  type EventMetadata,
  type EventStore,
  type ExpectedRevision,
  type GlobalPosition,
  type NewEvent,
  type ReadStreamResult,
  type RecordedEvent,
  type SubscribeOptions,
  type SubscriptionItem,
} from '../../application/index.js';

/** Markers pushed into the client's subscription stream, so that they arrive in order with the events. */
const CHECKPOINT = Symbol('checkpoint');
const CAUGHT_UP = Symbol('caught-up');
type Marker = { readonly [CHECKPOINT]: Position } | { readonly [CAUGHT_UP]: true };

const isSystemType = (type: string) => type.startsWith('$');

const toRecorded = (resolved: ResolvedEvent): RecordedEvent | undefined => {
  const e = resolved.event;
  if (!e || !e.position || isSystemType(e.type)) return undefined;
  return {
    id: e.id,
    streamId: e.streamId,
    revision: e.revision,
    position: { commit: e.position.commit, prepare: e.position.prepare },
    type: e.type,
    data: e.data,
    metadata: e.metadata as unknown as EventMetadata,
  };
};

const expectedRevisionOf = (expected: ExpectedRevision): AppendExpectedRevision =>
  expected === 'no_stream' ? NO_STREAM : expected === 'any' ? ANY : expected;

/**
 * The event store port on EventStoreDB (`@eventstore/db-client`). Streams are appended with the
 * expected revision (`NO_STREAM` for a new stream); a `WrongExpectedVersionError` becomes the port's
 * conflict, a `StreamNotFoundError` while reading becomes an empty stream. Global positions are
 * EventStoreDB's own `{commit, prepare}`, carried without change. The aggregate's sequence is the
 * stream revision + 1 here as on every store. Reading `$all` needs a user allowed to read it.
 */
export class EventStoreDBEventStore implements EventStore {
  constructor(private readonly client: EventStoreDBClient) {}

  static fromConnectionString(connectionString: string): EventStoreDBEventStore {
    return new EventStoreDBEventStore(EventStoreDBClient.connectionString(connectionString));
  }

  async readStream(streamId: string): Promise<ReadStreamResult> {
    const events: RecordedEvent[] = [];
    try {
      for await (const resolved of this.client.readStream(streamId)) {
        const event = toRecorded(resolved);
        if (event) events.push(event);
      }
    } catch (error) {
      if (error instanceof StreamNotFoundError) return { currentRevision: undefined, events: [] };
      throw error;
    }
    return { currentRevision: events.at(-1)?.revision, events };
  }

  async appendToStream(streamId: string, events: readonly NewEvent[], expected: ExpectedRevision): Promise<AppendResult> {
    try {
      const result = await this.client.appendToStream(
        streamId,
        events.map((e) => jsonEvent({ id: e.id, type: e.type, data: e.data as JSONType, metadata: e.metadata as unknown as JSONType })),
        { expectedRevision: expectedRevisionOf(expected) },
      );
      const position = result.position ?? (await this.lastPositionOf(streamId));
      return { nextExpectedRevision: result.nextExpectedRevision, position: { commit: position.commit, prepare: position.prepare } };
    } catch (error) {
      if (error instanceof WrongExpectedVersionError) {
        const actual = error.actualVersion;
        throw new WrongExpectedRevisionError(streamId, expected, typeof actual === 'bigint' ? actual : undefined);
      }
      throw error;
    }
  }

  /** For an append the server answered without a position (as it may for an idempotent retry). */
  private async lastPositionOf(streamId: string): Promise<Position> {
    // Read to the end rather than break out: leaving early leaves the gRPC call open and dispose() waiting on it.
    let found: Position | undefined;
    for await (const resolved of this.client.readStream(streamId, { direction: BACKWARDS, fromRevision: END, maxCount: 1 })) {
      found ??= resolved.event?.position;
    }
    if (!found) throw new Error(`stream ${streamId} has no position after an append`);
    return found;
  }

  async headPosition(): Promise<GlobalPosition | undefined> {
    // The last event that is not a system event: that is what subscriptions here deliver.
    // Read the page to its end rather than break out: leaving early leaves the gRPC call open.
    let found: GlobalPosition | undefined;
    for await (const resolved of this.client.readAll({ direction: BACKWARDS, fromPosition: END, maxCount: 256 })) {
      const e = resolved.event;
      if (!found && e?.position && !isSystemType(e.type)) found = { commit: e.position.commit, prepare: e.position.prepare };
    }
    return found;
  }

  /**
   * `subscribeToAll` from the position, filtered server-side to the stream prefixes (or to
   * non-system events), consumed with `for await`, one event at a time. The filter's
   * checkpointReached callback and the caughtUp signal are pushed into the same stream as markers,
   * so they reach the consumer in order with the events and the read model saves progress even when
   * every event is filtered out. A dropped subscription ends this iterator with the error; the
   * projection runner resubscribes from its checkpoint with backoff.
   */
  async *subscribeToAll(options: SubscribeOptions = {}): AsyncIterable<SubscriptionItem> {
    const { signal, streamPrefixes, after } = options;
    const checkpointReached = (subscription: AllStreamSubscription, position: Position) => {
      subscription.push({ [CHECKPOINT]: position } satisfies Marker);
    };
    const filter: Filter = streamPrefixes
      ? streamNameFilter({ prefixes: [...streamPrefixes], checkpointInterval: 1, checkpointReached })
      : excludeSystemEvents({ checkpointInterval: 1, checkpointReached });
    if (signal?.aborted) return;
    const subscription = this.client.subscribeToAll({ fromPosition: after ?? START, filter });
    subscription.on('caughtUp', () => subscription.push({ [CAUGHT_UP]: true } satisfies Marker));
    // Cancelling the gRPC call does not end the client's stream, so end it here as well.
    const onAbort = () => void subscription.unsubscribe().then(() => subscription.destroy());
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      for await (const item of subscription as AsyncIterable<ResolvedEvent | Marker>) {
        if (CHECKPOINT in item) {
          const p = item[CHECKPOINT];
          yield { kind: 'checkpoint', position: { commit: p.commit, prepare: p.prepare } };
        } else if (CAUGHT_UP in item) {
          yield { kind: 'caught-up' };
        } else {
          const event = toRecorded(item);
          if (event) yield { kind: 'event', event };
        }
      }
    } catch (error) {
      if (!signal?.aborted) throw error;
    } finally {
      signal?.removeEventListener('abort', onAbort);
      await subscription.unsubscribe();
    }
  }

  private closing: Promise<void> | undefined;

  /** Idempotent: a second call waits for the first. */
  close(): Promise<void> {
    return (this.closing ??= this.client.dispose());
  }
}
