import { mkdirSync } from 'node:fs';
import type { Logger } from 'pino';
import { comparePositions, type EventStore } from '../../application/index.js';
import type { Config } from '../config.js';
import { EventStoreDBEventStore } from '../eventstoredb/eventstoredb-event-store.js';
import { DataDirLock } from '../sqlite/data-dir-lock.js';
import { importLegacyLog } from '../sqlite/jsonl-import.js';
import { SqliteEventStore } from '../sqlite/sqlite-event-store.js';
import { SqliteProjectionStore } from '../sqlite/sqlite-projection-store.js';
import { StoreFileError } from '../sqlite/store-file-error.js';

export interface OpenedStores {
  readonly events: EventStore;
  readonly readModel: SqliteProjectionStore;
  /** Closes the stores and, for a server, lets go of the data directory. */
  close(): Promise<void>;
}

/**
 * The one place where the environment becomes stores. Nothing set: events and read model in SQLite
 * files in DATA_DIR; EVENTSTORE_CONNECTION_STRING: events in EventStoreDB, read model in DATA_DIR.
 *
 * `role: 'server'` takes the data directory's lock first (one server per directory) and imports
 * an earlier version's JSON-lines log; `role: 'tool'` (the command-line tools) does neither and
 * works beside a running server.
 */
export const openStores = async (config: Config, dataDir: string, logger: Logger, role: 'server' | 'tool'): Promise<OpenedStores> => {
  mkdirSync(dataDir, { recursive: true });
  const lock = role === 'server' ? DataDirLock.acquire(dataDir) : undefined;
  let events: EventStore | undefined;
  let readModel: SqliteProjectionStore | undefined;
  const close = async () => {
    await events?.close();
    await readModel?.close();
    lock?.release();
  };
  try {
    if (config.EVENTSTORE_CONNECTION_STRING) {
      logger.info('event store: EventStoreDB (EVENTSTORE_CONNECTION_STRING)');
      events = EventStoreDBEventStore.fromConnectionString(config.EVENTSTORE_CONNECTION_STRING);
    } else {
      const sqlite = SqliteEventStore.open(dataDir);
      events = sqlite;
      logger.info({ file: sqlite.file }, 'event store: SQLite');
      if (role === 'server') {
        const report = await importLegacyLog(dataDir, sqlite);
        if (report) {
          logger.info(report, `imported ${report.imported} of ${report.events} events from the JSON-lines log of an earlier version; it was moved to ${report.movedTo}`);
          if (report.tornTail) logger.warn({ file: report.file }, 'the log ended in a line cut short by a crash; it was never acknowledged and was left out');
        }
      }
    }
    readModel = SqliteProjectionStore.open(dataDir);
    if (events instanceof SqliteEventStore) await refuseReadModelAhead(events, readModel);
    const opened = { events, readModel, close };
    return opened;
  } catch (error) {
    await close();
    throw error;
  }
};

/**
 * A read model that has seen more events than the event store holds means the event file was
 * replaced, emptied or lost: starting would serve rows whose events are gone. Stop and say so.
 */
const refuseReadModelAhead = async (events: SqliteEventStore, readModel: SqliteProjectionStore): Promise<void> => {
  const checkpoint = await readModel.checkpoint();
  if (!checkpoint) return;
  const head = await events.headPosition();
  if (head && comparePositions(checkpoint, head) <= 0) return;
  throw new StoreFileError(
    events.file,
    `${events.file} holds fewer events (up to ${head ? head.commit : 'none'}) than ${readModel.file} has applied (up to ${checkpoint.commit}): the event file was replaced, emptied or lost. Restore ${events.file} from a backup; if starting over was intended, delete ${readModel.file} too.`,
  );
};
