import { deriveEventId } from './command-handler.js';
import type { RecordedEvent } from './ports/event-store.js';

/**
 * The events a command appended to a stream, if it ran there before: those whose causation is the
 * command, the first of them carrying the id the command path derives from the command id and the
 * revision it appended after. Empty when the command never succeeded on this stream.
 */
export const eventsOfCommand = (recorded: readonly RecordedEvent[], streamId: string, commandId: string): readonly RecordedEvent[] => {
  const own = recorded.filter((e) => e.metadata.causationId === commandId);
  const first = own[0];
  if (!first) return [];
  const expected = first.revision === 0n ? 'no_stream' : String(first.revision - 1n);
  return first.id === deriveEventId(commandId, streamId, expected, 0) ? own : [];
};
