import { decodeStoredEvent, type KnownEventType } from '../domain/index.js';
import { positionToString, type RecordedEvent } from './ports/event-store.js';

/**
 * Reads a recorded event as the domain knows it: upcast to the current shape and checked against
 * its type's schema (see src/domain/event-schemas.ts). Undefined for a type without a schema.
 * Throws `EVENT-DEC-7m3q` (naming the position, stream and fields) for a payload that does not fit.
 */
export const decodeRecordedEvent = (event: RecordedEvent): ReturnType<typeof decodeStoredEvent> =>
  decodeStoredEvent({
    type: event.type,
    schemaVersion: event.metadata?.schemaVersion,
    data: event.data,
    context: { instanceId: event.metadata?.instanceId ?? '', streamId: event.streamId },
    where: { position: positionToString(event.position), streamId: event.streamId },
  });

export type { KnownEventType };
