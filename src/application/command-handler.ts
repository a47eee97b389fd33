import * as crypto from 'node:crypto';
import { currentSchemaVersion, DomainError, ErrorKind, type Decider } from '../domain/index.js';
import { decodeRecordedEvent } from './decode-event.js';
import { deepFreeze } from './frozen.js';
import { isoTimeOf } from './iso-time.js';
import {
  WrongExpectedRevisionError,
  type AppendResult,
  type EventMetadata,
  type EventStore,
  type NewEvent,
  type RecordedEvent,
} from './ports/event-store.js';

export interface CommandContext {
  readonly instanceId: string;
  readonly editorUserId: string;
  /** Identifies this command; event ids are derived from it, so a retried append is idempotent. */
  readonly commandId: string;
  readonly correlationId: string;
  readonly now: Date;
  /** `now` as an ISO string, when the caller has it already (Date#toISOString costs about 0.7 µs). */
  readonly createdAt?: string;
}

/** The schemaVersion every event type is written with today (see currentSchemaVersion for each type's own). */
export const EVENT_SCHEMA_VERSION = 1;

/** One-shot hashing (Node 20.12+, about 3x cheaper than a Hash object for short input); createHash before. */
const sha256Hex: (input: string) => string =
  typeof (crypto as { hash?: unknown }).hash === 'function'
    ? (input) => (crypto as unknown as { hash: (alg: string, data: string, enc: 'hex') => string }).hash('sha256', input, 'hex')
    : (input) => crypto.createHash('sha256').update(input).digest('hex');

/** The RFC 9562 variant (10xx) in the top bits of a hex digit: '8', '9', 'a', 'b'. */
const VARIANT = [0x38, 0x39, 0x61, 0x62] as const;
const DASH = 0x2d;
/** Where an id is put together (ids are made one at a time, synchronously). */
const scratch = Buffer.alloc(36);

/** Copies hex digits [from, to) into the scratch buffer, `shift` places further on. */
const copyHex = (hex: string, from: number, to: number, shift: number): void => {
  for (let i = from; i < to; i++) scratch[i + shift] = hex.charCodeAt(i);
};

/**
 * A UUID (version 8, RFC 9562) derived from the command and the event's place in it: the first 128
 * bits of sha256(commandId, streamId, expected revision, index), with the version and variant set.
 * The same ids as ever, so an append retried across an upgrade is still recognised. Written out as
 * one flat string: it was a template of slices of the digest's hex, a tree of about ten string
 * pieces that kept the whole 64-digit hex alive, some 390 bytes of heap for every stored event
 * where a flat id takes about 56.
 */
export const deriveEventId = (commandId: string, streamId: string, expected: string, index: number): string => {
  const hex = sha256Hex(`${commandId}\u0000${streamId}\u0000${expected}\u0000${index}`);
  copyHex(hex, 0, 8, 0);
  scratch[8] = DASH;
  copyHex(hex, 8, 12, 1);
  scratch[13] = DASH;
  scratch[14] = 0x38; // '8': version 8, in place of hex digit 12
  copyHex(hex, 13, 16, 2);
  scratch[18] = DASH;
  scratch[19] = VARIANT[parseInt(hex[16]!, 16) & 3]!;
  copyHex(hex, 17, 20, 3);
  scratch[23] = DASH;
  copyHex(hex, 20, 32, 4);
  return scratch.toString('latin1', 0, 36);
};

/**
 * The metadata of a command's events when its causation id is its correlation id (every command
 * not given a correlation id of its own) and its schemaVersion is 1 (every event type today): those
 * two are own accessors rather than fields, the same functions for every object, so that a store
 * keeping events in memory holds four fields a command rather than six (16 bytes). Frozen; key
 * listings, spreads and JSON show it as the plain object it stands for, in the same order. A plain
 * object (its prototype Object.prototype), not an instance of a class of its own, so that a strict
 * deep equality (toStrictEqual, assert.deepStrictEqual) still finds it equal to the object literal
 * it stands for, and to the metadata of a command given a correlation id of its own.
 */
const CAUSATION_ID: PropertyDescriptor = {
  enumerable: true,
  get(this: EventMetadata) {
    return this.correlationId;
  },
};
const SCHEMA_VERSION_1: PropertyDescriptor = { enumerable: true, get: () => 1 };
/** How console.log and util.inspect show it: as the plain object it stands for, not with `[Getter]`s. */
function shownAsFields(this: EventMetadata): EventMetadata {
  return { ...this };
}
/** An accessor, not enumerable: no field (no memory an object), and no key in listings, spreads, JSON or equality. */
const SHOWN_AS_FIELDS: PropertyDescriptor = { get: () => shownAsFields };
const INSPECT = Symbol.for('nodejs.util.inspect.custom');

const sharedFieldsMetadata = (instanceId: string, editorUserId: string, createdAt: string, correlationId: string): EventMetadata => {
  const metadata = { instanceId, editorUserId, createdAt, correlationId };
  Object.defineProperty(metadata, 'causationId', CAUSATION_ID);
  Object.defineProperty(metadata, 'schemaVersion', SCHEMA_VERSION_1);
  Object.defineProperty(metadata, INSPECT, SHOWN_AS_FIELDS);
  return Object.freeze(metadata) as EventMetadata;
};

/** Frozen metadata (it holds only strings and numbers, so freezing it once is freezing it deeply); see sharedFieldsMetadata. */
const commandMetadata = (
  instanceId: string,
  editorUserId: string,
  createdAt: string,
  correlationId: string,
  causationId: string,
  schemaVersion: number,
): EventMetadata =>
  causationId === correlationId && schemaVersion === 1
    ? sharedFieldsMetadata(instanceId, editorUserId, createdAt, correlationId)
    : Object.freeze<EventMetadata>({ instanceId, editorUserId, createdAt, correlationId, causationId, schemaVersion });

export interface HandledCommand<E> {
  readonly events: readonly E[];
  readonly append: AppendResult;
  /** The aggregate's sequence after the last new event (stream revision + 1). */
  readonly sequence: bigint;
}

/**
 * The whole command path: load the stream, fold it, decide, append with the expected revision.
 * When another writer got there first, the stream is loaded again and the command decided again,
 * so that the loser of a race is judged against the winner's events (at most `maxAttempts` times,
 * backing off from the second lost race on).
 */
export const handleCommand = async <C, E extends { type: string; data: unknown }, S>(
  store: EventStore,
  decider: Decider<C, E, S>,
  streamId: string,
  command: C,
  context: CommandContext,
  maxAttempts = 5,
): Promise<HandledCommand<E>> => {
  for (let attempt = 1; ; attempt++) {
    const { currentRevision, events: recorded } = await store.readStream(streamId);
    // fold(decider, events), without an array of the decoded events in between.
    let state = decider.initialState();
    for (let i = 0; i < recorded.length; i++) state = decider.evolve(state, toDomainEvent<E>(recorded[i]!));
    const events = decider.decide(command, state);
    if (events.length === 0 && currentRevision !== undefined) {
      throw new DomainError(ErrorKind.FailedPrecondition, 'COMMAND-noop1', 'Errors.NoChanges', 'the command changed nothing');
    }
    const expected = currentRevision ?? 'no_stream';
    const expectedText = String(expected);
    const createdAt = context.createdAt ?? isoTimeOf(context.now);
    // The instance id string the stream's events hold already, when it is the same: a command brings
    // its own copy of it, and a store that keeps the metadata (and a read model whose rows take the
    // id from it) then keeps one string per instance rather than one per command.
    const kept = recorded.length > 0 ? recorded[0]!.metadata.instanceId : undefined;
    const instanceId = kept === context.instanceId ? kept : context.instanceId;
    const newEvents: NewEvent[] = new Array(events.length);
    // One metadata object for the command's events of one schema version (all of them, today).
    let metadata: EventMetadata | undefined;
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!;
      const schemaVersion = currentSchemaVersion(e.type);
      if (metadata === undefined || metadata.schemaVersion !== schemaVersion) {
        metadata = commandMetadata(instanceId, context.editorUserId, createdAt, context.correlationId, context.commandId, schemaVersion);
      }
      newEvents[i] = {
        id: deriveEventId(context.commandId, streamId, expectedText, i),
        type: e.type,
        // Frozen, so that a store may keep these very objects rather than copies (see frozen.ts).
        data: deepFreeze(e.data),
        metadata,
      };
    }
    try {
      const append = await store.appendToStream(streamId, newEvents, expected);
      return { events, append, sequence: append.nextExpectedRevision + 1n };
    } catch (error) {
      if (!(error instanceof WrongExpectedRevisionError)) throw error;
      if (attempt >= maxAttempts) {
        throw new DomainError(
          ErrorKind.Unavailable,
          'COMMAND-cnfl9',
          'Errors.Concurrency.Conflict',
          `stream ${streamId} kept changing; gave up after ${attempt} attempts`,
          [],
          { cause: error },
        );
      }
      await conflictBackoff(attempt);
    }
  }
};

/** First delay after a second lost race (ms); it doubles with each further one. */
export const CONFLICT_BACKOFF_MS = 10;

/**
 * The first lost race is decided again at once (usually the command is then refused, or fits after
 * the winner's events). If the stream keeps changing, writers back off, with jitter, so that they
 * stop colliding: 5-10 ms, then 10-20 ms, 20-40 ms.
 */
const conflictBackoff = (attempt: number): Promise<void> => {
  if (attempt < 2) return Promise.resolve();
  const base = CONFLICT_BACKOFF_MS * 2 ** (attempt - 2);
  return new Promise((resolve) => setTimeout(resolve, base / 2 + (Math.random() * base) / 2));
};

/** Known types are upcast and checked; others are handed over as stored. */
const toDomainEvent = <E>(e: RecordedEvent): E => (decodeRecordedEvent(e) ?? { type: e.type, data: e.data }) as E;
