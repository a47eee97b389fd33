/**
 * The event store port. Asynchronous throughout, with bigint revisions per stream and a global
 * position shaped like EventStoreDB's `{commit, prepare}` (stores with a single sequence number set
 * both to it), so that EventStoreDB, PostgreSQL and in-memory adapters all fit without loss.
 */

export interface GlobalPosition {
  readonly commit: bigint;
  readonly prepare: bigint;
}

const order = (x: bigint, y: bigint): number => (x < y ? -1 : x > y ? 1 : 0);

/** Negative, zero or positive as `a` is before, at or after `b`: by commit, then by prepare. */
export const comparePositions = (a: GlobalPosition, b: GlobalPosition): number => order(a.commit, b.commit) || order(a.prepare, b.prepare);

export const positionToString = (p: GlobalPosition): string => `${p.commit}/${p.prepare}`;
export const positionFromString = (s: string): GlobalPosition => {
  const parts = s.split('/');
  if (parts.length < 2) throw new TypeError(`not a position: ${s}`);
  return { commit: BigInt(parts[0]!), prepare: BigInt(parts[1]!) };
};

/** What the command side writes along with every event. */
export interface EventMetadata {
  readonly instanceId: string;
  readonly editorUserId: string;
  /** RFC 3339 UTC with milliseconds; from the command, not from the store's clock. */
  readonly createdAt: string;
  readonly correlationId: string;
  readonly causationId: string;
  readonly schemaVersion: number;
}

export interface NewEvent {
  /** A UUID. Derived from the command, so that a retried append is idempotent. */
  readonly id: string;
  readonly type: string;
  readonly data: unknown;
  readonly metadata: EventMetadata;
}

export interface RecordedEvent {
  readonly id: string;
  readonly streamId: string;
  /** 0-based revision within the stream. The aggregate's sequence after this event is revision + 1. */
  readonly revision: bigint;
  readonly position: GlobalPosition;
  readonly type: string;
  readonly data: unknown;
  readonly metadata: EventMetadata;
}

/** `'no_stream'`: the stream must not exist; a bigint: the stream's last revision must be this. */
export type ExpectedRevision = 'no_stream' | 'any' | bigint;

export interface AppendResult {
  readonly nextExpectedRevision: bigint;
  /** The global position of the last appended event. */
  readonly position: GlobalPosition;
}

export interface ReadStreamResult {
  /** Undefined when the stream does not exist. */
  readonly currentRevision: bigint | undefined;
  readonly events: readonly RecordedEvent[];
}

export type SubscriptionItem =
  | { readonly kind: 'event'; readonly event: RecordedEvent }
  /** All events up to this position have been seen (some may have been filtered out). */
  | { readonly kind: 'checkpoint'; readonly position: GlobalPosition }
  /** The subscription has delivered everything that existed when it started and now follows live events. */
  | { readonly kind: 'caught-up' };

export interface SubscribeOptions {
  /** Deliver events strictly after this position; undefined means from the start. */
  readonly after?: GlobalPosition;
  /** Only streams with one of these prefixes. Undefined: all non-system streams. */
  readonly streamPrefixes?: readonly string[];
  readonly signal?: AbortSignal;
}

export interface HeadOptions {
  readonly streamPrefixes?: readonly string[];
}

export interface EventStore {
  readStream(streamId: string): Promise<ReadStreamResult>;
  appendToStream(streamId: string, events: readonly NewEvent[], expected: ExpectedRevision): Promise<AppendResult>;
  /** Catches up from `after`, then follows live events until the signal aborts or the consumer stops. */
  subscribeToAll(options?: SubscribeOptions): AsyncIterable<SubscriptionItem>;
  /**
   * The position of the last event in the store, or undefined when it is empty. With
   * `streamPrefixes`: a position that a feed filtered to those streams is sure to reach, the last
   * event in them (a store whose feed reports progress to the end of the log may answer its head).
   */
  headPosition(options?: HeadOptions): Promise<GlobalPosition | undefined>;
  close(): Promise<void>;
}

/** Raised by an adapter when the expected revision does not hold. */
export class WrongExpectedRevisionError extends Error {
  override readonly name = 'WrongExpectedRevisionError';
  constructor(
    readonly streamId: string,
    readonly expected: ExpectedRevision,
    readonly actual: bigint | undefined,
  ) {
    super(`stream ${streamId}: expected revision ${String(expected)}, actual ${actual === undefined ? 'no stream' : String(actual)}`);
  }
}

/**
 * Raised by a feed when subscribing again cannot help (the store refuses this reader, or does not
 * know the position asked for): the projection runner stops instead of retrying forever.
 */
export class SubscriptionRefusedError extends Error {
  override readonly name = 'SubscriptionRefusedError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
