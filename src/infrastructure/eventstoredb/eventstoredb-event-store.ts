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
  type AllStreamResolvedEvent,
  type AllStreamSubscription,
  type AppendExpectedRevision,
  type AppendResult as AppendResult_,
  type Filter,
  type JSONType,
  type Position,
  type ResolvedEvent,
} from '@eventstore/db-client';
import {
  comparePositions,
  WrongExpectedRevisionError,
  type AppendResult,
  type EventMetadata,
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
import { isTransient, toStoreError, toSubscriptionError } from './errors.js';
import { readToEnd } from './reads.js';

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

export interface EventStoreDBOptions {
  /** How long a read may take before it is cancelled and reported as Unavailable (default 10 s). */
  readonly readDeadlineMs?: number;
  /** Pause before the one retry of an append that failed in transit (default 100 ms). */
  readonly retryBackoffMs?: number;
}

/** Events per page when reading `$all` backwards for the head. */
const HEAD_PAGE = 256;

/**
 * The event store port on EventStoreDB (`@eventstore/db-client`). Streams are appended with the
 * expected revision (`NO_STREAM` for a new stream); a wrong expected version becomes the port's
 * conflict, whether the client throws it or (with `throwOnAppendFailure=false`) returns
 * `success: false`. Reads for a command and appends go to the leader (`requiresLeader`), and every
 * read has a deadline. An append that fails in transit (unavailable, cancelled, deadline exceeded,
 * not leader) is retried once with the same event ids, which the server treats as the same write;
 * if that fails too it is Unavailable. A deleted stream is NotFound, an append over the server's size
 * limit InvalidArgument. Global positions are EventStoreDB's own `{commit, prepare}`, carried
 * without change. Reading `$all` needs a user allowed to read it.
 */
export class EventStoreDBEventStore implements EventStore {
  private readonly readDeadlineMs: number;
  private readonly retryBackoffMs: number;

  constructor(
    private readonly client: EventStoreDBClient,
    options: EventStoreDBOptions = {},
  ) {
    this.readDeadlineMs = options.readDeadlineMs ?? 10_000;
    this.retryBackoffMs = options.retryBackoffMs ?? 100;
  }

  static fromConnectionString(connectionString: string, options: EventStoreDBOptions = {}): EventStoreDBEventStore {
    return new EventStoreDBEventStore(EventStoreDBClient.connectionString(connectionString), options);
  }

  async readStream(streamId: string): Promise<ReadStreamResult> {
    let resolved: ResolvedEvent[];
    try {
      resolved = await readToEnd(this.client.readStream(streamId, { requiresLeader: true }), this.readDeadlineMs);
    } catch (error) {
      if (error instanceof StreamNotFoundError) return { currentRevision: undefined, events: [] };
      throw toStoreError(error, streamId);
    }
    const events = resolved.flatMap((r) => toRecorded(r) ?? []);
    return { currentRevision: events.at(-1)?.revision, events };
  }

  async appendToStream(streamId: string, events: readonly NewEvent[], expected: ExpectedRevision): Promise<AppendResult> {
    const proposed = events.map((e) => jsonEvent({ id: e.id, type: e.type, data: e.data as JSONType, metadata: e.metadata as unknown as JSONType }));
    const options = { expectedRevision: expectedRevisionOf(expected), requiresLeader: true };
    let result: AppendResult_;
    try {
      try {
        result = await this.client.appendToStream(streamId, proposed, options);
      } catch (error) {
        if (!isTransient(error)) throw error;
        // Same event ids: if the first attempt was written after all, the server answers it as done.
        await new Promise((resolve) => setTimeout(resolve, this.retryBackoffMs));
        result = await this.client.appendToStream(streamId, proposed, options);
      }
    } catch (error) {
      if (error instanceof WrongExpectedVersionError) {
        const actual = error.actualVersion;
        throw new WrongExpectedRevisionError(streamId, expected, typeof actual === 'bigint' ? actual : undefined);
      }
      throw toStoreError(error, streamId);
    }
    if (!result.success) {
      // throwOnAppendFailure=false: the client answers a conflict instead of throwing it, and on its
      // BatchAppend path with a wrong revision, so the actual one is read from the stream.
      throw new WrongExpectedRevisionError(streamId, expected, (await this.readStream(streamId)).currentRevision);
    }
    const position = result.position ?? (await this.lastPositionOf(streamId));
    return { nextExpectedRevision: result.nextExpectedRevision, position: { commit: position.commit, prepare: position.prepare } };
  }

  /** For an append the server answered without a position (as it may for an idempotent retry). */
  private async lastPositionOf(streamId: string): Promise<Position> {
    const read = this.client.readStream(streamId, { direction: BACKWARDS, fromRevision: END, maxCount: 1, requiresLeader: true });
    const found = (await readToEnd(read, this.readDeadlineMs).catch((error: unknown) => Promise.reject(toStoreError(error, streamId))))[0]?.event?.position;
    if (!found) throw new Error(`stream ${streamId} has no position after an append`);
    return found;
  }

  /**
   * The last event that is not a system event, read backwards through `$all` page by page: a busy
   * server writes long runs of system events (stats every 30 s, scavenge records per chunk, links and
   * checkpoints of system projections), so one page may hold nothing else. With `streamPrefixes`
   * only those streams count: the server sends no checkpoint that would carry a filtered feed past
   * an event in another stream. Start-up decides nothing from it (see server-app.ts); tools and the
   * shared read model's watcher wait for it.
   */
  async headPosition(options: HeadOptions = {}): Promise<GlobalPosition | undefined> {
    const { streamPrefixes } = options;
    const counts = (r: AllStreamResolvedEvent) =>
      !!r.event && !isSystemType(r.event.type) && (!streamPrefixes || streamPrefixes.some((p) => r.event!.streamId.startsWith(p)));
    let from: Position | typeof END = END;
    for (;;) {
      const page: AllStreamResolvedEvent[] = await readToEnd(this.client.readAll({ direction: BACKWARDS, fromPosition: from, maxCount: HEAD_PAGE }), this.readDeadlineMs).catch(
        (error: unknown) => Promise.reject(toStoreError(error, '$all')),
      );
      const found = page.find(counts)?.event?.position;
      if (found) return { commit: found.commit, prepare: found.prepare };
      const oldest: Position | undefined = page.at(-1)?.event?.position;
      if (page.length < HEAD_PAGE || !oldest) return undefined;
      from = oldest;
    }
  }

  /**
   * `subscribeToAll` from the position, filtered server-side to the stream prefixes (or to
   * non-system events), consumed with `for await`, one event at a time. The filter's
   * checkpointReached callback and the caughtUp signal are pushed into the same stream as markers,
   * so they reach the consumer in order with the events and the read model saves progress even when
   * every event is filtered out. A dropped subscription ends this iterator with the error; the
   * projection runner resubscribes from its checkpoint with backoff, except after access denied or
   * an invalid position ({@link SubscriptionRefusedError}), where subscribing again cannot help.
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
    let last: GlobalPosition | undefined = after;
    try {
      for await (const item of subscription as AsyncIterable<ResolvedEvent | Marker>) {
        if (CHECKPOINT in item) {
          // A server's checkpoint names a commit position with prepare 0, so it can sort before an
          // event just delivered at that commit position: such a checkpoint says nothing new.
          const p = item[CHECKPOINT];
          const position = { commit: p.commit, prepare: p.prepare };
          if (last && comparePositions(position, last) <= 0) continue;
          last = position;
          yield { kind: 'checkpoint', position };
        } else if (CAUGHT_UP in item) {
          yield { kind: 'caught-up' };
        } else {
          const event = toRecorded(item);
          if (event) {
            last = event.position;
            yield { kind: 'event', event };
          }
        }
      }
    } catch (error) {
      if (!signal?.aborted) throw toSubscriptionError(error);
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
