import { createReadStream, existsSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { WrongExpectedRevisionError, type EventMetadata } from '../../application/index.js';
import type { AppendRequest, SqliteEventStore } from './sqlite-event-store.js';
import { StoreFileError } from './store-file-error.js';

/** The JSON-lines log of versions before SQLite: one event a line. */
export const LEGACY_LOG = 'events.jsonl';

interface LegacyLine {
  readonly id: string;
  readonly streamId: string;
  readonly revision: string;
  readonly position: string;
  readonly type: string;
  readonly data: unknown;
  readonly metadata: EventMetadata;
}

const isLegacyLine = (v: unknown): v is LegacyLine => {
  if (typeof v !== 'object' || v === null) return false;
  const l = v as Record<string, unknown>;
  return (
    typeof l.id === 'string' &&
    typeof l.streamId === 'string' &&
    typeof l.revision === 'string' &&
    /^\d+$/.test(l.revision) &&
    typeof l.type === 'string' &&
    typeof l.metadata === 'object' &&
    l.metadata !== null
  );
};

export interface ImportReport {
  readonly file: string;
  /** Events read from the log (those already in the database, from an interrupted earlier run, are skipped). */
  readonly events: number;
  /** Events the database did not hold yet. */
  readonly imported: number;
  /** A last line cut short by a crash mid-write: never acknowledged, so not imported. */
  readonly tornTail: boolean;
  /** Where the log was moved once imported. */
  readonly movedTo: string;
}

/**
 * Imports the JSON-lines log of an earlier version into the SQLite store, once: streamed line by
 * line (so a log of any size works), in transactions of `chunk` events, idempotent by event id, in
 * the log's order. A damaged line in the middle stops with its file and line number; an unfinished
 * last line (a crash while writing it) is reported and left out. The log is then renamed beside the
 * database, and an old `events.lock` removed. Returns undefined when there is no log.
 */
export const importLegacyLog = async (dir: string, store: SqliteEventStore, chunk = 2_000): Promise<ImportReport | undefined> => {
  const file = join(dir, LEGACY_LOG);
  if (!existsSync(file)) return undefined;
  const headBefore = (await store.headPosition())?.commit ?? 0n;
  let events = 0;
  let batch: AppendRequest[] = [];
  const flush = () => {
    store.appendMany(batch).forEach((outcome, i) => {
      if ('ok' in outcome) return;
      const failed = batch[i]!;
      const detail = outcome.error instanceof WrongExpectedRevisionError ? outcome.error.message : String(outcome.error);
      throw new StoreFileError(
        file,
        `${file}: event ${failed.events[0]!.id} cannot be imported (${detail}); the database already holds other events for that stream. Move ${file} away to start without it.`,
      );
    });
    batch = [];
  };
  const add = (text: string, line: number) => {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      throw new StoreFileError(
        file,
        `${file} line ${line} is damaged (${(error as Error).message}). Repair or remove that line, or restore the file from a backup, and start again: the import resumes where it stopped (it skips events it has already written).`,
      );
    }
    if (!isLegacyLine(value)) throw new StoreFileError(file, `${file} line ${line} is not an event of this store. Repair or remove it and start again: the import resumes where it stopped.`);
    const revision = BigInt(value.revision);
    batch.push({
      streamId: value.streamId,
      events: [{ id: value.id, type: value.type, data: value.data, metadata: value.metadata }],
      expected: revision === 0n ? 'no_stream' : revision - 1n,
    });
    events++;
  };
  // Each line is added once the next one has been read, so that the last line is known as such.
  let previous: { text: string; line: number } | undefined;
  let line = 0;
  for await (const text of createInterface({ input: createReadStream(file, { encoding: 'utf8' }), crlfDelay: Infinity })) {
    line++;
    if (previous) add(previous.text, previous.line);
    if (batch.length >= chunk) flush();
    previous = text.trim() === '' ? undefined : { text, line };
  }
  let tornTail = false;
  if (previous) {
    try {
      add(previous.text, previous.line);
    } catch {
      tornTail = true; // written in part when the process or the disk stopped; it was never acknowledged
    }
  }
  if (batch.length > 0) flush();
  const headAfter = (await store.headPosition())?.commit ?? 0n;
  const movedTo = `${file}.imported-${Date.now()}`;
  renameSync(file, movedTo);
  rmSync(join(dir, 'events.lock'), { force: true });
  return { file, events, imported: Number(headAfter - headBefore), tornTail, movedTo };
};
