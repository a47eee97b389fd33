import type { GlobalPosition, ReadModelChange, RecordedEvent } from '../application/index.js';

/**
 * What an event store's inline projection needs (PostgreSQL's and the in-memory one's
 * `projectInline`): the projection's pure handler, its stream filter, and whom to tell.
 */
export interface InlineProjectionOptions {
  /** The projection's handler, the same one its runner uses (it must not depend on the event's position: PostgreSQL does not know it yet). */
  readonly handler: (event: RecordedEvent) => readonly ReadModelChange[];
  /** The runner's stream filter: events of other streams change nothing (the checkpoint still moves past them). */
  readonly streamPrefixes?: readonly string[];
  /** Told, before the appender hears of its append, of every append the read model already holds: it holds everything up to that position. */
  readonly onProjected?: (position: GlobalPosition) => void;
}
