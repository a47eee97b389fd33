// The replay commands of `smtp-config`: events export/import/copy, projection status/rebuild/verify.
// Each returns its exit code; see EXIT in smtp-config.ts.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, fstatSync, readFileSync, rmSync, statSync } from 'node:fs';
import { once } from 'node:events';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { pino } from 'pino';
import {
  canonicalJson,
  digestHistory,
  ExportFormatError,
  fromExportLine,
  importEvents,
  positionFromString,
  positionToString,
  readAllEvents,
  smtpConfigProjection,
  toExportLine,
  type EventStore,
  type ExportedEvent,
  type GlobalPosition,
  type ProjectionStore,
} from '../../application/index.js';
import { INSTANCE_STREAM_PREFIX } from '../../domain/index.js';
import { idleInTransactionTimeoutMs, openStores, readModelUpToDate, refuseReadModelAhead, type OpenedEvents, type OpenedStores } from '../bootstrap/open-stores.js';
import { loadConfig, type Config } from '../config.js';
import { DEV_KEY_RING_FILE } from '../crypto/dev-key-ring.js';
import { InMemoryProjectionStore } from '../in-memory/in-memory-projection-store.js';
import { createFileOnce } from '../system/create-file-once.js';
import { DataDirInUseError, DataDirLock } from '../sqlite/data-dir-lock.js';
import { SqliteEventStore } from '../sqlite/sqlite-event-store.js';
import { SqliteProjectionStore } from '../sqlite/sqlite-projection-store.js';
import { StoreFileError } from '../sqlite/store-file-error.js';
import { refuseUnimportedLegacyLog, refuseUnimportedLegacyLogIn } from './legacy-log.js';
import { progress } from './progress.js';
import { makeDirectory } from '../system/make-directory.js';

export { EXIT, output, UsageError, type Output } from './cli-output.js';
import { EXIT, output, UsageError, type Output } from './cli-output.js';

/** SIGINT stops the work at its next safe point instead of killing the process. */
const interruptible = () => {
  const abort = new AbortController();
  const onSignal = () => {
    process.stderr.write('interrupted: stopping at the next safe point (run the same command again to resume)\n');
    abort.abort();
  };
  process.once('SIGINT', onSignal);
  return { signal: abort.signal, dispose: () => process.removeListener('SIGINT', onSignal) };
};

/**
 * A command that reads a history (export, copy's source, projection status, rebuild, verify) must
 * not make an empty SQLite store in a mistyped DATA_DIR and report nothing to do: without
 * DATABASE_URL or EVENTSTORE_CONNECTION_STRING, DATA_DIR must already hold the events.
 */
const requireExistingStore = async (config: Config): Promise<void> => {
  if (config.EVENTSTORE_CONNECTION_STRING) return;
  if (config.DATABASE_URL) return requireExistingSchema(config.DATABASE_URL, config);
  const dir = resolve(config.DATA_DIR);
  if (existsSync(join(dir, SqliteEventStore.FILE))) return;
  throw new UsageError(
    `DATA_DIR ${dir} holds no event store (no ${SqliteEventStore.FILE}): check DATA_DIR (or set DATABASE_URL / EVENTSTORE_CONNECTION_STRING); this command only reads and creates nothing`,
  );
};

/** The same for PostgreSQL: a mistyped DATABASE_SCHEMA must not become a new empty store. */
const requireExistingSchema = async (url: string, config: Config): Promise<void> => {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: config.DATABASE_CONNECT_TIMEOUT_MS });
  let found: boolean;
  try {
    await client.connect();
    const { rows } = await client.query<{ found: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM information_schema.tables WHERE table_schema = $1 AND table_name = 'events') AS found`,
      [config.DATABASE_SCHEMA],
    );
    found = rows[0]!.found;
  } catch {
    return; // unreachable, or no rights to look: opening the store reports it as it would for the server
  } finally {
    await client.end().catch(() => undefined);
  }
  if (!found) {
    throw new UsageError(
      `the schema ${config.DATABASE_SCHEMA} (DATABASE_SCHEMA) holds no event store (no table ${config.DATABASE_SCHEMA}.events) in the database of DATABASE_URL: check DATABASE_SCHEMA and DATABASE_URL; this command only reads and creates nothing`,
    );
  }
};

type Mode = 'reads' | 'may-create';

const configFor = async (mode: Mode): Promise<Config> => {
  const config = loadConfig();
  refuseUnimportedLegacyLog(config);
  if (mode === 'reads') await requireExistingStore(config);
  return config;
};

const withStores = async <T>(work: (stores: OpenedStores, config: Config) => Promise<T>, mode: Mode = 'reads'): Promise<T> => {
  const config = await configFor(mode);
  const stores = await openStores(config, resolve(config.DATA_DIR), pino({ level: 'silent' }), 'tool');
  try {
    return await work(stores, config);
  } finally {
    await stores.close();
  }
};

/**
 * For the commands that need the events only (export, import, copy, rebuild): the read model is not
 * opened, so a damaged read-model.db or a dropped read-model table does not stop them.
 */
const withEvents = async <T>(work: (stores: OpenedEvents, config: Config) => Promise<T>, mode: Mode = 'reads'): Promise<T> => {
  const config = await configFor(mode);
  const stores = await openStores(config, resolve(config.DATA_DIR), pino({ level: 'silent' }), 'tool', { readModel: false });
  try {
    return await work(stores, config);
  } finally {
    await stores.close();
  }
};

const parsePosition = (value: string | undefined): GlobalPosition | undefined => {
  if (value === undefined) return undefined;
  try {
    return /^\d+$/.test(value) ? { commit: BigInt(value), prepare: BigInt(value) } : positionFromString(value);
  } catch {
    throw new UsageError(`--after: "${value}" is not a position (commit/prepare, or one number)`);
  }
};

const pos = (p: GlobalPosition | undefined) => (p ? positionToString(p) : null);

// ---------------------------------------------------------------- events export

export interface ExportOptions {
  readonly after?: string;
  readonly streamPrefix?: string[];
  readonly out?: string;
}

export const eventsExport = (options: ExportOptions, out: Output): Promise<number> =>
  withEvents(async (stores) => {
    const after = parsePosition(options.after);
    const streamPrefixes = options.streamPrefix?.length ? options.streamPrefix : undefined;
    const head = await stores.events.headPosition(streamPrefixes ? { streamPrefixes } : {});
    const sink = options.out ? createWriteStream(options.out) : process.stdout;
    const bar = progress('export');
    const { signal, dispose } = interruptible();
    let count = 0;
    let last: GlobalPosition | undefined;
    let chunk = '';
    const write = async (text: string) => {
      // A write's failure comes as an 'error' event, after the write: the next write finds it here.
      if (sink.errored) throw sink.errored;
      if (!sink.write(text)) await once(sink, 'drain');
    };
    try {
      for await (const event of readAllEvents(stores.events, { ...(after ? { after } : {}), ...(streamPrefixes ? { streamPrefixes } : {}), signal })) {
        chunk += toExportLine(event);
        count++;
        last = event.position;
        if (chunk.length >= 65_536) {
          await write(chunk);
          chunk = '';
          bar.update(event.position.commit, head?.commit ?? 0n, count);
        }
      }
      await write(chunk);
    } catch (error) {
      // The reader went away (`| head`): the export ends there, without a word, as a Unix tool's output does.
      if ((error as NodeJS.ErrnoException | undefined)?.code !== 'EPIPE') throw error;
      return EXIT.ok;
    } finally {
      bar.stop();
      dispose();
      if (sink !== process.stdout && !sink.closed) {
        sink.end();
        await once(sink, 'close');
      }
    }
    const summary = { exported: count, last: pos(last), interrupted: signal.aborted };
    // The events themselves may be on stdout: the summary goes to stderr then.
    if (options.out) out.result(summary, `exported ${count} events to ${options.out}${last ? `; the last at ${pos(last)} (the events after it: --after ${pos(last)} --out <another file>, since --out replaces what a file held)` : ''}`);
    else process.stderr.write(`exported ${count} events${last ? `; the last at ${pos(last)}` : ''}\n`);
    return signal.aborted ? EXIT.interrupted : EXIT.ok;
  });

// ---------------------------------------------------------------- events import

/** How far the reading of an export has got, in bytes, for the progress bar. */
interface ReadProgress {
  bytes: number;
  /** The line that could not be read; the input ended before it. */
  failure?: ExportFormatError;
}

async function* readExportLines(path: string | undefined, read: ReadProgress): AsyncIterable<ExportedEvent> {
  const input = path ? createReadStream(path) : process.stdin;
  let n = 0;
  for await (const text of createInterface({ input, crlfDelay: Infinity })) {
    n++;
    read.bytes += Buffer.byteLength(text) + 1;
    if (text.trim() === '') continue;
    let event: ExportedEvent;
    try {
      event = fromExportLine(text, n);
    } catch (error) {
      if (!(error instanceof ExportFormatError)) throw error;
      // End the input here, so that the import appends everything before the line, then fail.
      read.failure = error;
      return;
    }
    yield event;
  }
}

/** A mistyped --in fails before anything is opened: no empty store made in DATA_DIR for nothing. */
const requireInputFile = (path: string | undefined): void => {
  if (path === undefined) return;
  let stat;
  try {
    stat = statSync(path);
  } catch (error) {
    throw new UsageError(`--in ${path}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}`);
  }
  if (stat.isDirectory()) throw new UsageError(`--in ${path}: is a directory, not an export file`);
};

/** The size of the input when it is a file (`--in`, or stdin redirected from one); undefined for a pipe. */
const inputSize = (path: string | undefined): number | undefined => {
  try {
    const stat = path ? statSync(path) : fstatSync(0);
    return stat.isFile() ? stat.size : undefined;
  } catch {
    return undefined; // reading it reports the problem
  }
};

export const eventsImport = async (options: { in?: string }, out: Output): Promise<number> => {
  requireInputFile(options.in);
  // Without --in the events come on stdin: from a terminal it would wait, silently, for lines typed in.
  if (options.in === undefined && process.stdin.isTTY) {
    throw new UsageError('events import reads an export from --in FILE or from stdin, which is a terminal here: pass --in FILE, or pipe the events in (… | smtp-config events import)');
  }
  return withEvents(async (stores) => {
    const bar = progress('import');
    const { signal, dispose } = interruptible();
    // Progress in bytes of the file, so that the bar's percentage and ETA mean something; from a pipe
    // of unknown length, only the count and the rate.
    const size = inputSize(options.in);
    const read: ReadProgress = { bytes: 0 };
    try {
      const report = await importEvents(stores.events, readExportLines(options.in, read), {
        signal,
        onProgress: (_last, r) =>
          size !== undefined ? bar.update(BigInt(Math.min(read.bytes, size)), BigInt(size), r.appended + r.skipped) : bar.update(BigInt(r.read), BigInt(r.read), r.appended + r.skipped),
      });
      bar.stop();
      if (read.failure) {
        throw new ExportFormatError(
          read.failure.line,
          `${read.failure.message.replace(/^line \d+: /, '')} (in ${options.in ?? 'stdin'}). The ${report.read} events before that line are imported (${report.appended} appended, ${report.skipped} there already); ` +
            'repair or remove the line (a last line cut short by an export that was killed can go) and import again: what is there already is skipped',
        );
      }
      out.result({ ...report, interrupted: signal.aborted }, `read ${report.read} events: appended ${report.appended}, already there ${report.skipped}`);
      return signal.aborted ? EXIT.interrupted : EXIT.ok;
    } finally {
      dispose();
    }
  }, 'may-create');
};

// ---------------------------------------------------------------- events copy

interface Target {
  readonly events: EventStore;
  readonly description: string;
  /** The data directory, for a SQLite target. */
  readonly dataDir?: string;
  close(): Promise<void>;
}

/**
 * The copied events' passwords are encrypted with the source's keys. Without ENCRYPTION_KEYS that is
 * the development key file in DATA_DIR: a SQLite target without one gets a copy (mode 0600); for
 * any other target the result says where the key is, since servers on it need it too.
 */
const carryDevKey = (config: Config, target: Target): { devKeyFile: 'copied' | 'target-has-its-own' | 'not-copied'; note: string } | undefined => {
  if (config.ENCRYPTION_KEYS) return undefined;
  const source = join(resolve(config.DATA_DIR), DEV_KEY_RING_FILE);
  if (!existsSync(source)) return undefined;
  if (target.dataDir) {
    const path = join(target.dataDir, DEV_KEY_RING_FILE);
    if (createFileOnce(path, readFileSync(source, 'utf8'))) {
      return { devKeyFile: 'copied', note: `copied the development encryption key file to ${path}: servers on the target decrypt the copied passwords with it` };
    }
    if (readFileSync(path, 'utf8') === readFileSync(source, 'utf8')) return undefined;
    return {
      devKeyFile: 'target-has-its-own',
      note: `${path} holds other development keys than ${source}: servers on the target cannot decrypt the copied passwords unless they get these keys (ENCRYPTION_KEYS)`,
    };
  }
  return {
    devKeyFile: 'not-copied',
    note: `the copied passwords are encrypted with the development key in ${source}: give the target's servers that file in their DATA_DIR, or set ENCRYPTION_KEYS with its key`,
  };
};

const openTarget = async (to: string, schema: string, config: Config): Promise<Target> => {
  if (/^postgres(ql)?:\/\//.test(to)) {
    const { default: pg } = await import('pg');
    const { PostgresEventStore } = await import('../postgres/index.js');
    const pool = new pg.Pool(commandPoolOptions(to, config, 'smtp-config events copy'));
    pool.on('error', () => undefined); // a session ended while idle in the pool: the next statement reports it, if any
    try {
      const events = await PostgresEventStore.open(pool, { schema });
      return { events, description: `PostgreSQL (schema ${schema})`, close: async () => (await events.close(), await pool.end()) };
    } catch (error) {
      await pool.end();
      throw error;
    }
  }
  if (/^esdb(\+discover)?:\/\//.test(to)) {
    const { EventStoreDBEventStore } = await import('../eventstoredb/eventstoredb-event-store.js');
    const events = EventStoreDBEventStore.fromConnectionString(to);
    return { events, description: 'EventStoreDB', close: () => events.close() };
  }
  const dir = resolve(to);
  refuseUnimportedLegacyLogIn(dir);
  makeDirectory(dir);
  const events = SqliteEventStore.open(dir);
  return { events, description: `SQLite (${events.file})`, dataDir: dir, close: () => events.close() };
};

/**
 * The pool of an operator command that writes in transactions (projection rebuild's shadow and
 * switch, events copy's target). Its sessions have the servers' idle_in_transaction_session_timeout
 * (DATABASE_QUERY_TIMEOUT_MS, at most 10 s): the switch holds the migration lock and exclusive locks
 * on every live read-model table, and a command stopped inside it (Ctrl-Z, SIGSTOP, a paused VM)
 * kept them, and every replica's reads waited, for as long as it was stopped. PostgreSQL now rolls
 * such a transaction back and ends its session. No statement_timeout: a rebuild's statements (the
 * switch's copy of every row, its wait for a replica's read-model batch) may rightly take longer.
 */
const commandPoolOptions = (url: string, config: Config, name: string) => ({
  connectionString: url,
  max: 4,
  fallback_application_name: name,
  connectionTimeoutMillis: config.DATABASE_CONNECT_TIMEOUT_MS,
  idle_in_transaction_session_timeout: idleInTransactionTimeoutMs(config),
  keepAlive: true,
});

const firstEvent = async (store: EventStore): Promise<ExportedEvent | undefined> => {
  for await (const event of readAllEvents(store)) return event;
  return undefined;
};

/**
 * A copy fills an empty store, or resumes into the one it began: a target whose history starts
 * otherwise (a mistyped --to naming another live store) would get the source's events mixed into its
 * own for good, to be reported as different only afterwards.
 */
const refuseOtherHistory = async (source: EventStore, target: Target): Promise<void> => {
  const theirs = await firstEvent(target.events);
  if (!theirs) return;
  const ours = await firstEvent(source);
  if (ours && ours.id === theirs.id) return;
  throw new UsageError(
    `${target.description} already holds another history (its first event is ${theirs.id} in ${theirs.streamId}${ours ? `, the source's is ${ours.id}` : '; the source is empty'}): ` +
      'events copy fills an empty store or resumes a copy into its own target; check --to. Nothing was written',
  );
};

export const eventsCopy = (options: { to: string; toSchema?: string }, out: Output): Promise<number> =>
  withEvents(async (stores, config) => {
    const target = await openTarget(options.to, options.toSchema ?? config.DATABASE_SCHEMA, config);
    const { signal, dispose } = interruptible();
    try {
      await refuseOtherHistory(stores.events, target);
      const head = await stores.events.headPosition();
      const bar = progress('copy');
      let copied = 0;
      async function* source(): AsyncIterable<ExportedEvent> {
        for await (const e of readAllEvents(stores.events, { signal })) yield e;
      }
      const report = await importEvents(target.events, source(), {
        signal,
        onProgress: (last, r) => bar.update(last.position.commit, head?.commit ?? 0n, (copied = r.appended + r.skipped)),
      });
      bar.stop();
      if (signal.aborted) {
        out.result({ ...report, interrupted: true }, `interrupted after ${copied} events; run the same command again to resume`);
        return EXIT.interrupted;
      }
      const [from, to] = [await digestHistory(stores.events), await digestHistory(target.events)];
      const same = from.count === to.count && from.sha256 === to.sha256;
      const key = carryDevKey(config, target);
      out.result(
        { ...report, source: from, target: to, same, ...(key ? { devKeyFile: key.devKeyFile } : {}) },
        `copied ${report.appended} events (${report.skipped} were there already) to ${target.description}\n` +
          `source: ${from.count} events, sha256 ${from.sha256}\ntarget: ${to.count} events, sha256 ${to.sha256}\n${same ? 'the same' : 'DIFFERENT'}` +
          (key ? `\n${key.note}` : ''),
      );
      return same ? EXIT.ok : EXIT.failed;
    } finally {
      dispose();
      await target.close();
    }
  });

// ---------------------------------------------------------------- projection status

const PROJECTED = { streamPrefixes: [INSTANCE_STREAM_PREFIX] } as const;

export const projectionStatus = (out: Output): Promise<number> =>
  withStores(async (stores) => {
    const checkpoint = await stores.readModel.checkpoint();
    const head = await stores.events.headPosition(PROJECTED);
    let lagEvents = 0;
    let oldest: string | undefined;
    for await (const e of readAllEvents(stores.events, { ...(checkpoint ? { after: checkpoint } : {}), ...PROJECTED })) {
      lagEvents++;
      oldest ??= e.metadata.createdAt;
    }
    const lagSeconds = oldest ? Math.max(0, (Date.now() - Date.parse(oldest)) / 1000) : 0;
    const status = { readModel: stores.description, checkpoint: pos(checkpoint), head: pos(head), lagEvents, lagSeconds };
    out.result(
      status,
      `${stores.description}\ncheckpoint: ${status.checkpoint ?? 'none'}\nhead:       ${status.head ?? 'none'}\nlag:        ${lagEvents} events, ${lagSeconds.toFixed(1)} s`,
    );
    return EXIT.ok;
  });

// ---------------------------------------------------------------- shadow read models

interface Shadow {
  readonly store: ProjectionStore;
  /** Makes the shadow the live read model, atomically; false while the live one is ahead of it. */
  adopt(): Promise<boolean>;
  /** Lets go of the shadow, keeping it to resume from, and of the live read model. Once only; later calls do nothing. */
  close(): Promise<void>;
  /** Deletes the shadow, and lets go of the live read model. */
  discard(): Promise<void>;
}

/** Runs the first ending it is given (close or discard), and no other: a pool ends once. */
const firstEnding = () => {
  let ending: Promise<void> | undefined;
  return (end: () => Promise<void>): Promise<void> => (ending ??= end());
};

/**
 * The PostgreSQL schema to rebuild `schema`'s read model in: `<schema>_shadow`, unless that would make
 * the store's notification channel (`<shadow>_checkpoint`) longer than PostgreSQL's 63 characters:
 * then a shortened name with a hash of the schema, never the live schema itself.
 */
export const shadowSchemaOf = (schema: string): string => {
  const plain = `${schema}_shadow`;
  if (plain.length <= MAX_SCHEMA_WITH_CHANNEL) return plain;
  const hash = createHash('sha256').update(schema).digest('hex').slice(0, 8);
  return `${schema.slice(0, MAX_SCHEMA_WITH_CHANNEL - '_shadow'.length - 9)}_${hash}_shadow`;
};
/** 63 (PostgreSQL's identifier length) less `_checkpoint`, the longest suffix a store's channel gets. */
const MAX_SCHEMA_WITH_CHANNEL = 63 - '_checkpoint'.length;

/**
 * The shadow to rebuild into, beside the live read model it will replace (opened here: the rebuild
 * opens the events only, see withEvents); `restart` (--restart) throws an earlier shadow away first,
 * unopened, since a damaged one could not be opened to be discarded.
 */
const openShadow = async (events: EventStore, config: Config, restart = false): Promise<Shadow> =>
  config.DATABASE_URL ? openPostgresShadow(events, config, config.DATABASE_URL, restart) : openSqliteShadow(events, config, restart);

/**
 * The live SQLite read model; or, when read-model.db is damaged (what its message says a rebuild
 * makes good), the data directory's lock: the rebuilt shadow then takes the file's place, which no
 * server may have open meanwhile.
 */
const openSqliteLive = async (events: EventStore, config: Config, dir: string): Promise<{ live: SqliteProjectionStore } | { damaged: string; lock: DataDirLock }> => {
  let live: SqliteProjectionStore;
  try {
    live = SqliteProjectionStore.open(dir);
    // A file can open (first page and schema intact) and still be damaged in its rows, where the
    // switch would stop on it: check it all, as the replacement below is the remedy for both.
    const damage = live.damage();
    if (damage !== undefined) {
      await live.close();
      throw new StoreFileError(live.file, `${live.file} is damaged (quick_check: ${damage}). It holds only what can be rebuilt`, { damaged: true });
    }
  } catch (error) {
    if (!(error instanceof StoreFileError && error.damaged)) throw error;
    let lock: DataDirLock;
    try {
      lock = DataDirLock.acquire(dir);
    } catch (locked) {
      if (!(locked instanceof DataDirInUseError)) throw locked;
      throw new StoreFileError(error.file, `${error.message.split('. ')[0]}, and a server runs on ${dir}: stop it, then run \`smtp-config projection rebuild\` to rebuild the read model from the events`, {
        cause: locked,
      });
    }
    process.stderr.write(`${error.message.split('. ')[0]}: rebuilding it from the events; the rebuilt read model takes its place\n`);
    return { damaged: error.file, lock };
  }
  try {
    if (!config.EVENTSTORE_CONNECTION_STRING) await refuseReadModelAhead(events, live, config);
  } catch (error) {
    await live.close();
    throw error;
  }
  return { live };
};

const openSqliteShadow = async (events: EventStore, config: Config, restart: boolean): Promise<Shadow> => {
  const dir = resolve(config.DATA_DIR);
  const removeFiles = () => {
    for (const suffix of ['', '-wal', '-shm']) rmSync(join(dir, `${SqliteProjectionStore.SHADOW_FILE}${suffix}`), { force: true });
  };
  const live = await openSqliteLive(events, config, dir);
  const letGoOfLive = async () => ('live' in live ? await live.live.close() : live.lock.release());
  if (restart) removeFiles();
  let store: SqliteProjectionStore;
  try {
    store = SqliteProjectionStore.open(dir, { file: SqliteProjectionStore.SHADOW_FILE });
  } catch (error) {
    await letGoOfLive();
    if (!(error instanceof StoreFileError)) throw error;
    const what = error.message.startsWith(`${error.file} `) ? error.message.slice(error.file.length + 1).split('. ')[0] : error.message;
    throw new StoreFileError(
      error.file,
      `${error.file} (the shadow an interrupted rebuild left to resume from) ${what}. ` +
        `The live read model is untouched; run \`smtp-config projection rebuild --restart\` to throw the shadow away and rebuild from the first event.`,
      { cause: error },
    );
  }
  const end = firstEnding();
  return {
    store,
    adopt: async () => {
      if ('live' in live) return live.live.adopt(store);
      SqliteProjectionStore.replaceDamaged(live.damaged, store);
      return true;
    },
    close: () =>
      end(async () => {
        await store.close();
        await letGoOfLive();
      }),
    discard: () =>
      end(async () => {
        await store.close();
        removeFiles();
        await letGoOfLive();
      }),
  };
};

/**
 * On PostgreSQL the live read model is opened as on SQLite, unless it is damaged (a table or column
 * dropped, see PostgresProjectionStore.damage; its schema steps are recorded as applied, so opening
 * it does not make them again): the rebuilt shadow's tables then replace its own, in one
 * transaction that, as adopting does, never moves a checkpoint that can still be read backwards.
 * Replicas running on it meanwhile fail on the missing tables and, once it is replaced, go on from
 * its checkpoint.
 */
const openPostgresShadow = async (events: EventStore, config: Config, url: string, restart: boolean): Promise<Shadow> => {
  const postgres = await import('../postgres/index.js');
  const { default: pg } = await import('pg');
  const pool = new pg.Pool(commandPoolOptions(url, config, 'smtp-config projection rebuild'));
  pool.on('error', () => undefined); // a session ended while idle in the pool: the next statement on a new one goes on
  // One rebuild per schema at a time: two would share the shadow schema, and the first to finish
  // drops it under the other (which then failed with 'relation …_shadow.projection_checkpoints does
  // not exist'). A session lock, held by a connection of its own until the rebuild ends or dies.
  const holder = new pg.Client({ connectionString: url });
  holder.on('error', () => undefined); // a broken connection ends the lock; the rebuild's own statements report it
  let held = false;
  const release = async () => {
    if (held) await holder.query('SELECT pg_advisory_unlock(hashtext($1))', [rebuildLockKey(config.DATABASE_SCHEMA)]).catch(() => undefined);
    await holder.end().catch(() => undefined);
  };
  const endAll = async () => {
    await release();
    await pool.end();
  };
  try {
    await holder.connect();
    held = (await holder.query<{ locked: boolean }>('SELECT pg_try_advisory_lock(hashtext($1)) AS locked', [rebuildLockKey(config.DATABASE_SCHEMA)])).rows[0]!.locked;
    if (!held) {
      throw new UsageError(
        `another \`smtp-config projection rebuild\` runs on the schema ${config.DATABASE_SCHEMA} (it holds its rebuild lock): wait for it to finish; its rebuilt read model takes the live one's place`,
      );
    }
    const attached = postgres.PostgresProjectionStore.attach(pool, { schema: config.DATABASE_SCHEMA });
    const damage = await attached.damage();
    let adopt: (store: typeof attached) => Promise<boolean>;
    if (damage === undefined) {
      const live = await postgres.PostgresProjectionStore.open(pool, { schema: config.DATABASE_SCHEMA });
      if (!config.EVENTSTORE_CONNECTION_STRING) await refuseReadModelAhead(events, live, config);
      adopt = (store) => live.adopt(store);
    } else {
      if (!config.EVENTSTORE_CONNECTION_STRING && !/projection_checkpoints/.test(damage)) await refuseReadModelAhead(events, attached, config);
      process.stderr.write(`the read model in the schema ${config.DATABASE_SCHEMA} is damaged (${damage}): rebuilding it from the events; the rebuilt read model takes its place\n`);
      adopt = (store) => attached.replaceDamaged(store);
    }
    const schema = shadowSchemaOf(config.DATABASE_SCHEMA);
    if (restart) await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    const store = await postgres.PostgresProjectionStore.open(pool, { schema });
    const end = firstEnding();
    return {
      store,
      adopt: () => switchAgainAfterLostSession(() => adopt(store), (error) => postgres.isPgUnavailable(error) || postgres.isPgUnavailable((error as { cause?: unknown })?.cause)),
      close: () => end(endAll),
      discard: () =>
        end(async () => {
          await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
          await endAll();
        }),
    };
  } catch (error) {
    await endAll();
    throw error;
  }
};

/**
 * The switch is one transaction. A session lost inside it (PostgreSQL ends one left idle in a
 * transaction for DATABASE_QUERY_TIMEOUT_MS, at most 10 s, as when the rebuild was stopped inside
 * the switch: Ctrl-Z, SIGSTOP, a paused VM; or the connection broke) was rolled back whole, and the
 * shadow is untouched: the switch is tried again on a new session, a few times, then the rebuild
 * stops saying so (the next run resumes from the shadow).
 */
const SWITCH_ATTEMPTS = 3;
const switchAgainAfterLostSession = async (adopt: () => Promise<boolean>, lostSession: (error: unknown) => boolean): Promise<boolean> => {
  for (let attempt = 1; ; attempt++) {
    try {
      return await adopt();
    } catch (error) {
      if (!lostSession(error)) throw error;
      if (attempt >= SWITCH_ATTEMPTS) {
        throw new Error(
          `the switch to the rebuilt read model lost its PostgreSQL session ${attempt} times before it committed, and PostgreSQL rolled it back each time: ` +
            'the live read model is as it was and the shadow is kept; run `smtp-config projection rebuild` again to resume from it',
          { cause: error },
        );
      }
      process.stderr.write(
        'the switch to the rebuilt read model lost its PostgreSQL session before it committed (PostgreSQL ends a session left idle inside a transaction ' +
          'for DATABASE_QUERY_TIMEOUT_MS, at most 10 s, as when this command was stopped), and PostgreSQL rolled it back: switching again\n',
      );
    }
  }
};

/** The advisory lock (`hashtext` of this) that one projection rebuild of `schema` holds. */
export const rebuildLockKey = (schema: string): string => `${schema}.projection-rebuild`;

/**
 * Replays the events into `target` from its checkpoint until the feed catches up, with progress;
 * resolves false when interrupted (the target keeps what it applied, to resume from).
 */
const replayInto = async (events: EventStore, target: ProjectionStore, label: string, signal: AbortSignal, batchSize?: number): Promise<boolean> => {
  const bar = progress(label);
  const head = (await events.headPosition(PROJECTED))?.commit ?? 0n;
  let applied = 0;
  let at = (await target.checkpoint())?.commit ?? 0n;
  // A server's runner retries a failing target for ever; a command reports it (exit 1) and stops:
  // run again, it resumes from what the target kept.
  let failed: (error: unknown) => void = () => undefined;
  const failure = new Promise<never>((_, reject) => (failed = reject));
  failure.catch(() => undefined);
  const runner = smtpConfigProjection(events, target, {
    ...(batchSize ? { maxBatchSize: batchSize } : {}),
    onError: (error) => failed(error),
    onApplied: (position, events) => {
      applied += events;
      at = position.commit;
      bar.update(at, head, applied);
      // Let signals (Ctrl-C) and timers in between two batches of a synchronous store.
      return new Promise<void>((resume) => setImmediate(resume));
    },
  });
  runner.start();
  try {
    const aborted = new Promise<'aborted'>((done) => (signal.aborted ? done('aborted') : signal.addEventListener('abort', () => done('aborted'), { once: true })));
    const outcome = await Promise.race([runner.waitForCaughtUp(24 * 3600_000).then(() => 'done' as const), aborted, failure]);
    return outcome === 'done';
  } finally {
    await runner.stop();
    bar.stop();
  }
};

// ---------------------------------------------------------------- projection rebuild

export const projectionRebuild = (options: { restart?: boolean; batchSize?: number }, out: Output): Promise<number> =>
  withEvents(async (stores, config) => {
    const shadow = await openShadow(stores.events, config, options.restart);
    const { signal, dispose } = interruptible();
    try {
      const resumedFrom = await shadow.store.checkpoint();
      if (resumedFrom) process.stderr.write(`resuming the rebuild from ${positionToString(resumedFrom)}\n`);
      let checkpoint: GlobalPosition | undefined;
      for (let attempt = 1; ; attempt++) {
        if (!(await replayInto(stores.events, shadow.store, 'rebuild', signal, options.batchSize))) {
          const at = await shadowCheckpoint(shadow);
          await shadow.close();
          out.result({ rebuilt: false, interrupted: true, shadowCheckpoint: pos(at) }, 'interrupted: run `smtp-config projection rebuild` again to resume');
          return EXIT.interrupted;
        }
        // Adopting gives the live read model the shadow's rows and checkpoint.
        checkpoint = await shadow.store.checkpoint();
        if (await shadow.adopt()) break;
        // The live read model moved on while the shadow caught up: catch up again, then switch.
        if (attempt >= 20) throw new Error('the live read model kept moving ahead of the rebuild; try again when writes are fewer');
      }
      await shadow.discard();
      out.result({ rebuilt: true, checkpoint: pos(checkpoint), resumedFrom: pos(resumedFrom) }, `rebuilt the read model up to ${pos(checkpoint) ?? 'nothing'} and switched to it`);
      return EXIT.ok;
    } finally {
      dispose();
      await shadow.close();
    }
  });

const shadowCheckpoint = async (shadow: Shadow) => {
  try {
    return await shadow.store.checkpoint();
  } catch {
    return undefined;
  }
};

// ---------------------------------------------------------------- projection verify

type Snapshot = { checkpoint?: string; [table: string]: unknown };

export interface Difference {
  readonly table: string;
  readonly key: string;
  readonly live: unknown;
  readonly rebuilt: unknown;
}

/** The first `limit` rows that differ between two canonical snapshots, table by table in key order. */
export const diffSnapshots = (live: Snapshot, rebuilt: Snapshot, limit = 10): Difference[] => {
  const out: Difference[] = [];
  for (const table of ['instances', 'domains', 'smtpConfigs']) {
    const a = new Map(live[table] as [string, unknown][]);
    const b = new Map(rebuilt[table] as [string, unknown][]);
    const keys = [...new Set([...a.keys(), ...b.keys()])].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
    for (const key of keys) {
      if (canonicalJson(a.get(key) ?? null) === canonicalJson(b.get(key) ?? null)) continue;
      out.push({ table, key, live: a.get(key) ?? null, rebuilt: b.get(key) ?? null });
      if (out.length >= limit) return out;
    }
  }
  return out;
};

const hashOf = (snapshot: unknown) => createHash('sha256').update(canonicalJson(snapshot)).digest('hex');

export const projectionVerify = (out: Output): Promise<number> =>
  withStores(async (stores) => {
    const { signal, dispose } = interruptible();
    try {
      for (let attempt = 1; ; attempt++) {
        await readModelUpToDate(stores);
        const shadow = new InMemoryProjectionStore();
        if (!(await replayInto(stores.events, shadow, 'verify', signal))) return EXIT.interrupted;
        const live = (await stores.readModel.snapshot()) as Snapshot;
        const rebuilt = (await shadow.snapshot()) as Snapshot;
        if (canonicalJson(live.checkpoint ?? null) !== canonicalJson(rebuilt.checkpoint ?? null) && attempt < 5) continue; // events arrived in between
        const differences = diffSnapshots(live, rebuilt);
        const result = { healthy: differences.length === 0, checkpoint: live.checkpoint ?? null, liveHash: hashOf(live), rebuiltHash: hashOf(rebuilt), differences };
        const text = result.healthy
          ? `the read model matches a rebuild from the events (sha256 ${result.liveHash})`
          : [
              `the read model differs from a rebuild from the events (live ${result.liveHash}, rebuilt ${result.rebuiltHash}); first differing rows:`,
              ...differences.map((d) => `  ${d.table} ${d.key}\n    live:    ${JSON.stringify(d.live)}\n    rebuilt: ${JSON.stringify(d.rebuilt)}`),
            ].join('\n');
        out.result(result, text);
        return result.healthy ? EXIT.ok : EXIT.failed;
      }
    } finally {
      dispose();
    }
  });

