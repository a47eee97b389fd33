import { decodeStoredEvent, type KnownEventType } from '../domain/index.js';
import { deepFreeze, isDeepFrozen } from './frozen.js';
import { positionToString, type RecordedEvent } from './ports/event-store.js';

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

/** Whether `a` and `b` hold the same plain value (same own keys, recursively the same values). */
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

export type { KnownEventType };
