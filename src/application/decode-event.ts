import { decodeStoredEvent, EventSchemas, type KnownEventType } from '../domain/index.js';
import { deepFreeze, isDeepFrozen } from './frozen.js';
import { positionToString, type GlobalPosition, type RecordedEvent } from './ports/event-store.js';

type Decoded = NonNullable<ReturnType<typeof decodeStoredEvent>>;

/**
 * Decoded payloads of recorded events that can never change (the record, its metadata and its data
 * all frozen, as the in-memory store keeps them): such an event decodes to the same payload every
 * time, so it is upcast and checked once, not on every fold and again in the projection. The value
 * is the stored data itself when the checked payload equals it (nothing upcast, nothing stripped),
 * so that an entry costs no copy of the payload. Keyed weakly: it lives as long as the record.
 */
const decodedData = new WeakMap<RecordedEvent, Decoded['data']>();

const isObject = (v: unknown): v is object => typeof v === 'object' && v !== null;

/**
 * Whether `a` and `b` hold the same plain value (same own enumerable keys, recursively the same
 * values). Counted with for-in rather than compared as Object.keys arrays: no array per object, which
 * at a million instances cost more in garbage collection than the comparison itself.
 */
const samePlainValue = (a: unknown, b: unknown): boolean => {
  if (a === b) return true;
  if (!isObject(a) || !isObject(b) || Array.isArray(a) !== Array.isArray(b)) return false;
  let keys = 0;
  for (const key in a) {
    if (!Object.hasOwn(a, key)) continue;
    keys++;
    if (!Object.hasOwn(b, key) || !samePlainValue((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key])) return false;
  }
  for (const key in b) if (Object.hasOwn(b, key)) keys--;
  return keys === 0;
};

/** Where an event is, for an error: the position is turned into a string only when an error names it. */
class Where {
  constructor(
    private readonly event: RecordedEvent,
    readonly streamId: string,
  ) {}

  get position(): string {
    return positionToString(this.event.position);
  }
}

const isImmutable = (event: RecordedEvent): boolean =>
  Object.isFrozen(event) && (event.metadata === undefined || Object.isFrozen(event.metadata)) && isDeepFrozen(event.data);

/**
 * Reads a recorded event as the domain knows it: upcast to the current shape and checked against
 * its type's schema (see src/domain/event-schemas.ts). Undefined for a type without a schema.
 * Throws `EVENT-DEC-7m3q` (naming the position, stream and fields) for a payload that does not fit.
 * The payload of an immutable record is decoded once and remembered (it is frozen then, so that
 * every reader sees the same value).
 */
export const decodeRecordedEvent = (event: RecordedEvent): ReturnType<typeof decodeStoredEvent> => {
  const own = LocatedRecord.payloadOf(event) ?? CheckedRecord.payloadOf(event);
  if (own !== undefined) return own === NO_SCHEMA ? undefined : ({ type: event.type, data: own } as Decoded);
  const known = decodedData.get(event);
  if (known !== undefined) return { type: event.type, data: known } as Decoded;
  const decoded = decodeStoredEvent({
    type: event.type,
    schemaVersion: event.metadata?.schemaVersion,
    data: event.data,
    context: { instanceId: event.metadata?.instanceId ?? '', streamId: event.streamId },
    where: new Where(event, event.streamId),
  });
  if (decoded && isImmutable(event)) {
    const data = samePlainValue(decoded.data, event.data) ? (event.data as Decoded['data']) : deepFreeze(decoded.data);
    decodedData.set(event, data);
    return { type: decoded.type, data } as Decoded;
  }
  return decoded;
};

/** In a checked record: the event's type has no schema, so it decodes to undefined. */
const NO_SCHEMA = Symbol('no schema');

/**
 * A recorded event that a store has just built and will keep, frozen, with its payload upcast and
 * checked once, at construction, and kept in the record itself (a private field: no spread, copy,
 * key listing or JSON of the record shows it). Every later decode of the record (each fold, the
 * projection) reads it instead of checking again. The same as the memo above, without a weak map
 * entry per event: a store of a million events would otherwise keep a million entries that every
 * garbage collection walks, and look one up for every event folded. A payload that does not fit
 * keeps nothing: every decode then checks it again and refuses it, naming it, as before.
 */
class CheckedRecord implements RecordedEvent {
  readonly id: string;
  readonly streamId: string;
  readonly revision: bigint;
  readonly position: RecordedEvent['position'];
  readonly type: string;
  readonly data: unknown;
  readonly metadata: RecordedEvent['metadata'];
  readonly #payload: Decoded['data'] | typeof NO_SCHEMA | undefined;

  constructor(fields: RecordedEvent) {
    this.id = fields.id;
    this.streamId = fields.streamId;
    this.revision = fields.revision;
    this.position = fields.position;
    this.type = fields.type;
    this.data = fields.data;
    this.metadata = fields.metadata;
    this.#payload = Object.isFrozen(this.position) && Object.isFrozen(this.metadata) && isDeepFrozen(this.data) ? checkOnce(this) : undefined;
    Object.freeze(this);
  }

  static payloadOf(event: RecordedEvent): Decoded['data'] | typeof NO_SCHEMA | undefined {
    return #payload in event ? event.#payload : undefined;
  }
}

/** The payload a decode of `record` gives (NO_SCHEMA for undefined), or undefined when it does not fit. */
const checkOnce = (record: RecordedEvent): Decoded['data'] | typeof NO_SCHEMA | undefined => {
  try {
    const decoded = decodeStoredEvent({
      type: record.type,
      schemaVersion: record.metadata?.schemaVersion,
      data: record.data,
      context: { instanceId: record.metadata?.instanceId ?? '', streamId: record.streamId },
      where: new Where(record, record.streamId),
    });
    if (decoded === undefined) return NO_SCHEMA;
    return samePlainValue(decoded.data, record.data) ? (record.data as Decoded['data']) : deepFreeze(decoded.data);
  } catch {
    return undefined;
  }
};

/**
 * The record a store keeps, frozen, built from these fields, with its payload checked now (see
 * CheckedRecord). Its data and metadata must be frozen already (deeply, for the data) for the check
 * to be kept; otherwise every decode checks it, as for any other record.
 */
export const checkedRecord = (fields: RecordedEvent): RecordedEvent => new CheckedRecord(fields);

/**
 * Where a store that keeps its records compactly finds a record's id, global position and, for a
 * type the domain does not know, its type, by the record's place in its log (see {@link recordMaker}).
 */
export interface RecordLocator {
  idAt(at: number): string;
  positionAt(at: number): GlobalPosition;
  /**
   * The type of the record at place `at`, which is not one of {@link PACKED_EVENT_TYPES}. Optional:
   * for a locator without it (as this interface was before), {@link recordMaker} keeps such types itself.
   */
  typeAt?(at: number): string;
}

/**
 * The event types a located record keeps as a number beside its place rather than in a field of
 * its own: those the domain knows (at most 15; code 0 means the locator keeps the type).
 */
const PACKED_EVENT_TYPES: readonly string[] = ['', ...Object.keys(EventSchemas)];
if (PACKED_EVENT_TYPES.length > 16) throw new Error('at most 15 event types fit a located record (see decode-event.ts)');
const PACKED_TYPE_CODES: ReadonlyMap<string, number> = new Map(PACKED_EVENT_TYPES.map((type, code) => [type, code] as const).slice(1));

/** Whether a located record of this type keeps it without its locator (see {@link RecordLocator.typeAt}). */
export const isPackedEventType = (type: string): boolean => PACKED_TYPE_CODES.has(type);

/** The payload state kept in a located record beside its place in the log (see LocatedRecord). */
const PAYLOAD_IS_DATA = 0;
const PAYLOAD_NO_SCHEMA = 1;
const PAYLOAD_NOT_KEPT = 2;

/**
 * A checked record (see CheckedRecord) that keeps neither its id, nor its position, nor (for a type
 * the domain knows) its type in fields of its own: the id and position are its store's, found by
 * the record's place in the store's log when read, and the type is a number kept with that place;
 * all three are own enumerable accessors (so that key listings, spreads and JSON show them as they
 * show any other field). A position object with its bigint is some 64 bytes, a UUID string 56 and
 * a field 8, for every event kept in memory; most positions and ids are never read. The records of
 * every store are of this one class, so that the code reading them sees one shape (a subclass per
 * store, holding the store on its prototype, saved 8 bytes a record but made those reads
 * polymorphic: measured some 5-10 % more CPU a command with the bench's 20 stores). The checked
 * payload is not kept either: it is the record's own data (the common case), or the type has no
 * schema, or it is not kept (a payload that was upcast, which the memo above then keeps on its first
 * decode, or one that does not fit, checked on every decode). The place, the type's code and the
 * payload state share one number: place * 64 + code * 4 + state, a small integer for the first 33
 * million events of a store (past that a heap number, 16 bytes more a record, and still exact).
 */
class LocatedRecord implements RecordedEvent {
  declare readonly id: string;
  declare readonly position: GlobalPosition;
  declare readonly type: string;
  readonly #locator: RecordLocator;
  // Assigned in the constructor rather than declared as fields: a class field is defined before the
  // constructor runs, which would put `data` and `metadata` before the `type` accessor in key listings.
  declare readonly streamId: string;
  declare readonly revision: bigint;
  declare readonly data: unknown;
  declare readonly metadata: RecordedEvent['metadata'];
  /** The record's place in the log times 64, plus its type's code times 4, plus its payload state. */
  readonly #at: number;

  /**
   * Own accessors on every record, the same functions for all, so that records share one shape.
   * Defined one by one: Object.defineProperties with both took about three times as long.
   */
  static readonly #id: PropertyDescriptor = {
    enumerable: true,
    get(this: LocatedRecord) {
      return this.#locator.idAt(Math.floor(this.#at / 64));
    },
  };
  static readonly #type: PropertyDescriptor = {
    enumerable: true,
    get(this: LocatedRecord) {
      const code = Math.floor(this.#at / 4) % 16;
      return code !== 0 ? PACKED_EVENT_TYPES[code]! : this.#locator.typeAt!(Math.floor(this.#at / 64));
    },
  };
  static readonly #position: PropertyDescriptor = {
    enumerable: true,
    get(this: LocatedRecord) {
      return this.#locator.positionAt(Math.floor(this.#at / 64));
    },
  };

  constructor(locator: RecordLocator, at: number, fields: Omit<RecordedEvent, 'id' | 'position'>) {
    this.#locator = locator;
    // The type in its place among the fields, as when it was one, so that key listings keep their order.
    this.streamId = fields.streamId;
    this.revision = fields.revision;
    Object.defineProperty(this, 'type', LocatedRecord.#type);
    this.data = fields.data;
    this.metadata = fields.metadata;
    Object.defineProperty(this, 'id', LocatedRecord.#id);
    Object.defineProperty(this, 'position', LocatedRecord.#position);
    const base = at * 64 + (PACKED_TYPE_CODES.get(fields.type) ?? 0) * 4;
    this.#at = base + PAYLOAD_NOT_KEPT;
    if (Object.isFrozen(this.metadata) && isDeepFrozen(this.data)) {
      const payload = checkOnce(this);
      if (payload === NO_SCHEMA) this.#at = base + PAYLOAD_NO_SCHEMA;
      else if (payload !== undefined && payload === this.data) this.#at = base + PAYLOAD_IS_DATA;
    }
    Object.freeze(this);
  }

  /**
   * How console.log and util.inspect show a record: its fields with their values, the accessors'
   * included (they would show `[Getter]`), and its metadata likewise (see the command handler's).
   * On the prototype: nothing more a record.
   */
  [Symbol.for('nodejs.util.inspect.custom')](): object {
    return { ...this, metadata: isObject(this.metadata) ? { ...this.metadata } : this.metadata };
  }

  static payloadOf(event: RecordedEvent): Decoded['data'] | typeof NO_SCHEMA | undefined {
    if (!(#at in event)) return undefined;
    const state = event.#at % 4;
    return state === PAYLOAD_IS_DATA ? (event.data as Decoded['data']) : state === PAYLOAD_NO_SCHEMA ? NO_SCHEMA : undefined;
  }
}

/**
 * For a store that keeps its records compactly: makes the record at place `at` of its log, frozen,
 * its id and position (and its type, unless {@link isPackedEventType}) found through `locator` when
 * read, its payload checked now (see LocatedRecord). The locator must know an unpacked type before
 * the record is made. Data and metadata must be frozen already (deeply, for the data) for the check
 * to be kept, as for {@link checkedRecord}.
 */
export const recordMaker = (locator: RecordLocator): ((at: number, fields: Omit<RecordedEvent, 'id' | 'position'>) => RecordedEvent) => {
  if (typeof locator.typeAt === 'function') return (at, fields) => new LocatedRecord(locator, at, fields);
  // A locator that keeps no types: the types the records do not keep are kept here, by place.
  const types = new Map<number, string>();
  const typed: RecordLocator = {
    idAt: (at) => locator.idAt(at),
    positionAt: (at) => locator.positionAt(at),
    typeAt: (at) => types.get(at)!,
  };
  return (at, fields) => {
    if (!isPackedEventType(fields.type)) types.set(at, fields.type);
    else if (types.size !== 0) types.delete(at);
    return new LocatedRecord(typed, at, fields);
  };
};

export type { KnownEventType };
