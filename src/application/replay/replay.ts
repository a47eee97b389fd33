import { createHash } from 'node:crypto';
import type { EventStore, GlobalPosition, NewEvent, RecordedEvent } from '../ports/event-store.js';
import { portableJson, type ExportedEvent } from './event-lines.js';

export interface ReadAllOptions {
  readonly after?: GlobalPosition;
  readonly streamPrefixes?: readonly string[];
  readonly signal?: AbortSignal;
}

/** Every event the store holds now (after `after`, in the given streams), in order; ends where the feed catches up. */
export async function* readAllEvents(store: EventStore, options: ReadAllOptions = {}): AsyncIterable<RecordedEvent> {
  const own = new AbortController();
  const stop = () => own.abort();
  options.signal?.addEventListener('abort', stop, { once: true });
  try {
    for await (const item of store.subscribeToAll({
      ...(options.after ? { after: options.after } : {}),
      ...(options.streamPrefixes ? { streamPrefixes: options.streamPrefixes } : {}),
      signal: own.signal,
    })) {
      if (item.kind === 'caught-up') return;
      if (item.kind === 'event') yield item.event;
      if (options.signal?.aborted) return;
    }
  } finally {
    options.signal?.removeEventListener('abort', stop);
    own.abort();
  }
}

/** Raised when the target already holds a different event where the import would put one. */
export class ImportConflictError extends Error {
  override readonly name = 'ImportConflictError';
}

export interface ImportReport {
  /** Events read from the input. */
  readonly read: number;
  /** Events appended to the target. */
  readonly appended: number;
  /** Events the target held already (same stream, revision and id). */
  readonly skipped: number;
}

export interface ImportOptions {
  /** Called as appends commit (and every few hundred events skipped) with the last event done and the counts so far. */
  readonly onProgress?: (last: ExportedEvent, report: ImportReport) => void;
  /** Stops between two appends; what was appended stays (and a later import skips it). */
  readonly signal?: AbortSignal;
  /** Most events in one append (default 500). */
  readonly maxBatch?: number;
  /** Appends in flight at once; they commit in order, sharing transactions where the store groups them (default 512). */
  readonly window?: number;
}

interface StreamState {
  /** The revision of the stream's last event as far as this import knows (-1n: none). */
  current: bigint;
  /** Ids of the events the target held when the import first met the stream, by revision. */
  existing: readonly string[] | undefined;
}

/**
 * Appends exported events to a store, keeping every stream's revisions and every event's id.
 * Idempotent: an event the target holds already at that revision, with that id, is skipped, so an
 * import that was interrupted is simply run again; a different event there is an
 * {@link ImportConflictError}, as is a gap in a stream's revisions.
 */
export const importEvents = async (target: EventStore, input: AsyncIterable<ExportedEvent>, options: ImportOptions = {}): Promise<ImportReport> => {
  const maxBatch = options.maxBatch ?? 500;
  const windowSize = options.window ?? 512;
  const targetWasEmpty = (await target.headPosition()) === undefined;
  const streams = new Map<string, StreamState>();
  const inFlight: Promise<unknown>[] = [];
  let read = 0;
  let appended = 0;
  let skipped = 0;
  let pending: { streamId: string; expected: bigint; events: NewEvent[] } | undefined;
  let lastSeen: ExportedEvent | undefined;
  let sinceProgress = 0;

  const report = (): ImportReport => ({ read, appended, skipped });
  const drainTo = async (size: number) => {
    while (inFlight.length > size) await inFlight.shift();
  };
  const flush = async () => {
    if (!pending) return;
    const { streamId, expected, events } = pending;
    pending = undefined;
    const lastOfBatch = lastSeen!;
    const done = target.appendToStream(streamId, events, expected === -1n ? 'no_stream' : expected).then(() => {
      appended += events.length;
      options.onProgress?.(lastOfBatch, report());
    });
    // Never an unhandled rejection: the failure surfaces when this append's turn comes.
    done.catch(() => undefined);
    inFlight.push(done);
    await drainTo(windowSize);
  };
  const stateOf = async (streamId: string): Promise<StreamState> => {
    let state = streams.get(streamId);
    if (state) return state;
    if (targetWasEmpty) {
      state = { current: -1n, existing: undefined };
    } else {
      // Nothing of this stream is in flight yet (appends follow this lookup), so the store's answer is current.
      const stored = await target.readStream(streamId);
      state = { current: stored.currentRevision ?? -1n, existing: stored.events.map((e) => e.id) };
    }
    streams.set(streamId, state);
    return state;
  };

  for await (const event of input) {
    if (options.signal?.aborted) break;
    read++;
    const state = await stateOf(event.streamId);
    if (event.revision <= state.current) {
      const held = state.existing?.[Number(event.revision)];
      if (held !== event.id) {
        throw new ImportConflictError(
          `stream ${event.streamId} revision ${event.revision}: the target holds event ${held ?? '(one imported just before)'}, the input has ${event.id}`,
        );
      }
      skipped++;
    } else if (event.revision !== state.current + 1n) {
      throw new ImportConflictError(`stream ${event.streamId}: the input jumps from revision ${state.current} to ${event.revision}`);
    } else {
      if (pending && (pending.streamId !== event.streamId || pending.events.length >= maxBatch)) await flush();
      pending ??= { streamId: event.streamId, expected: state.current, events: [] };
      pending.events.push({ id: event.id, type: event.type, data: event.data, metadata: event.metadata });
      state.current = event.revision;
      lastSeen = event;
      continue;
    }
    if (options.onProgress && ++sinceProgress >= maxBatch) {
      sinceProgress = 0;
      options.onProgress(event, report());
    }
  }
  await flush();
  await drainTo(0);
  return report();
};

export interface HistoryDigest {
  readonly count: number;
  /** SHA-256 over every event without its position (see portableJson), in the store's order. */
  readonly sha256: string;
}

/** Counts and hashes the whole history a store holds now: equal digests mean the same events, in the same order. */
export const digestHistory = async (store: EventStore, options: ReadAllOptions = {}): Promise<HistoryDigest> => {
  const hash = createHash('sha256');
  let count = 0;
  for await (const event of readAllEvents(store, options)) {
    hash.update(portableJson(event)).update('\n');
    count++;
  }
  return { count, sha256: hash.digest('hex') };
};
