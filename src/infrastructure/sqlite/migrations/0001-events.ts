import type { Migration } from '../migrate.js';

/**
 * The event log. `position` is the global order: SQLite has one writer at a time and assigns it
 * inside the append transaction, so positions commit in order and a reader never skips one.
 * `(stream_id, revision)` and `event_id` are unique: the first is the optimistic-concurrency
 * check's backstop, the second makes a retried append recognisable.
 */
export const eventsSchema: Migration = {
  version: 1,
  name: 'events',
  sql: `
    CREATE TABLE events (
      position INTEGER PRIMARY KEY AUTOINCREMENT,
      stream_id TEXT NOT NULL,
      revision INTEGER NOT NULL CHECK (revision >= 0),
      event_id TEXT NOT NULL UNIQUE,
      type TEXT NOT NULL,
      data TEXT NOT NULL,
      metadata TEXT NOT NULL,
      UNIQUE (stream_id, revision)
    ) STRICT;
  `,
};

export const eventMigrations: readonly Migration[] = [eventsSchema];
