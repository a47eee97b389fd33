import { positionFromString, positionToString, type EventMetadata, type GlobalPosition, type RecordedEvent } from '../ports/event-store.js';

/**
 * The export format, one JSON object per line (UTF-8, `\n` after every line), keys in this order:
 *
 *     {"position":"17/17","streamId":"instance-1","revision":"2","id":"…","type":"instance.smtp.config.added","data":{…},"metadata":{…}}
 *
 * - `position`: where the event is in the exporting store, `commit/prepare` (what `--after` takes);
 *   an import gives events the positions of the store they go into.
 * - `revision`: the 0-based revision in its stream, as a decimal string (64-bit).
 * - `id`, `type`, `data`, `metadata`: as stored; `data` and `metadata` with their keys sorted, so
 *   that every store's export of the same history is the same bytes but for the positions.
 */
export interface ExportedEvent {
  readonly position: GlobalPosition;
  readonly streamId: string;
  readonly revision: bigint;
  readonly id: string;
  readonly type: string;
  readonly data: unknown;
  readonly metadata: EventMetadata;
}

/** JSON with object keys sorted at every depth: the same value always gives the same text. */
export const canonicalJson = (value: unknown): string => JSON.stringify(sortKeys(value));

const sortKeys = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort()) out[key] = sortKeys((value as Record<string, unknown>)[key]);
  return out;
};

/** The event without its position, canonical: what two stores holding the same history agree on. */
export const portableJson = (e: Pick<RecordedEvent, 'streamId' | 'revision' | 'id' | 'type' | 'data' | 'metadata'>): string =>
  `{"streamId":${JSON.stringify(e.streamId)},"revision":"${e.revision}","id":${JSON.stringify(e.id)},"type":${JSON.stringify(e.type)},"data":${canonicalJson(e.data ?? null)},"metadata":${canonicalJson(e.metadata)}}`;

export const toExportLine = (e: RecordedEvent): string => `{"position":"${positionToString(e.position)}",${portableJson(e).slice(1)}\n`;

/** Raised for a line that is not an exported event: names the line. */
export class ExportFormatError extends Error {
  override readonly name = 'ExportFormatError';
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(`line ${line}: ${message}`);
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export const fromExportLine = (text: string, line: number): ExportedEvent => {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new ExportFormatError(line, 'not JSON');
  }
  if (!isObject(v)) throw new ExportFormatError(line, 'not a JSON object');
  for (const key of ['position', 'streamId', 'revision', 'id', 'type'] as const) {
    if (typeof v[key] !== 'string' || v[key] === '') throw new ExportFormatError(line, `${key} must be a non-empty string`);
  }
  if (!isObject(v.metadata)) throw new ExportFormatError(line, 'metadata must be an object');
  if (!/^\d+$/.test(v.revision as string)) throw new ExportFormatError(line, 'revision must be a decimal number');
  let position: GlobalPosition;
  try {
    position = positionFromString(v.position as string);
  } catch {
    throw new ExportFormatError(line, 'position must be commit/prepare');
  }
  return {
    position,
    streamId: v.streamId as string,
    revision: BigInt(v.revision as string),
    id: v.id as string,
    type: v.type as string,
    data: v.data,
    metadata: v.metadata as unknown as EventMetadata,
  };
};
