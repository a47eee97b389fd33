import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ConfigError, type Config } from '../config.js';
import { LEGACY_LOG } from '../sqlite/jsonl-import.js';

/**
 * Only the server imports the JSON-lines log of an earlier version (under its data-directory lock).
 * A tool run on such a DATA_DIR before that would see an empty store (`instance list` printing
 * nothing, `projection status` saying there is no store) or write events that the log's import then
 * collides with (`instance add` of a domain the log holds stops the server's start): it refuses.
 */
export const refuseUnimportedLegacyLog = (config: Config): void => {
  if (config.DATABASE_URL || config.EVENTSTORE_CONNECTION_STRING) return;
  refuseUnimportedLegacyLogIn(config.DATA_DIR);
};

/** The same for a SQLite data directory given otherwise (the target of `events copy`). */
export const refuseUnimportedLegacyLogIn = (dataDir: string): void => {
  const file = join(resolve(dataDir), LEGACY_LOG);
  if (!existsSync(file)) return;
  throw new ConfigError(
    `${file} is the event log of an earlier version and is not imported yet: start the server once on this DATA_DIR (npm start), which imports it, then run this command again`,
  );
};
