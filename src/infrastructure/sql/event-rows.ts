import type { EventMetadata, RecordedEvent } from '../../application/index.js';
import type { LogEntry } from './log-follower.js';

/**
 * The events table as both SQL stores name it: `position`, `stream_id`, `revision`, `event_id`,
 * `type`, `data`, `metadata`. SQLite hands back integers as bigint and JSON as text; PostgreSQL
 * (node-postgres) int8 as text, and json as text too (the store selects it so). One mapping serves both.
 */
export interface EventRow {
  readonly position: bigint | string;
  readonly stream_id: string;
  readonly revision: bigint | string;
  readonly event_id: string;
  readonly type: string;
  readonly data: unknown;
  readonly metadata: unknown;
}

export const EVENT_COLUMNS = 'position, stream_id, revision, event_id, type, data, metadata';

const json = (value: unknown): unknown => (typeof value === 'string' ? JSON.parse(value) : value);

export const toRecordedEvent = (row: EventRow): RecordedEvent => {
  const position = BigInt(row.position);
  return {
    id: row.event_id,
    streamId: row.stream_id,
    revision: BigInt(row.revision),
    position: { commit: position, prepare: position },
    type: row.type,
    data: json(row.data),
    metadata: json(row.metadata) as EventMetadata,
  };
};

/** A row as the log follower wants it: the event is only mapped when it is delivered. */
export const toLogEntry = (row: EventRow): LogEntry => ({ position: BigInt(row.position), streamId: row.stream_id, event: () => toRecordedEvent(row) });
