import { describe, expect, it } from 'vitest';
import {
  digestHistory,
  fromExportLine,
  ImportConflictError,
  importEvents,
  InMemoryEventStore,
  readAllEvents,
  toExportLine,
  type ExportedEvent,
  type NewEvent,
} from '../support/everything.js';

let n = 0;
const event = (name: string): NewEvent => ({
  id: `00000000-0000-4000-8000-${(++n).toString(16).padStart(12, '0')}`,
  type: 'instance.added',
  data: { name, b: 1, a: 2 },
  metadata: { instanceId: name, editorUserId: 'u', createdAt: '2024-06-11T10:37:15.680Z', correlationId: 'c', causationId: 'c', schemaVersion: 1 },
});

const exported = async (store: InMemoryEventStore): Promise<ExportedEvent[]> => {
  const out: ExportedEvent[] = [];
  let i = 0;
  for await (const e of readAllEvents(store)) out.push(fromExportLine(toExportLine(e), ++i));
  return out;
};
async function* each<T>(xs: readonly T[]) {
  yield* xs;
}

describe('importing exported events', () => {
  it('keeps revisions and ids, interleaved streams included, and a second import adds nothing', async () => {
    const source = new InMemoryEventStore();
    await source.appendToStream('instance-a', [event('a'), event('a')], 'no_stream');
    await source.appendToStream('instance-b', [event('b')], 'no_stream');
    await source.appendToStream('instance-a', [event('a')], 1n);
    const lines = await exported(source);
    const target = new InMemoryEventStore();
    expect(await importEvents(target, each(lines), { window: 2, maxBatch: 1 })).toEqual({ read: 4, appended: 4, skipped: 0 });
    expect(await importEvents(target, each(lines))).toEqual({ read: 4, appended: 0, skipped: 4 });
    expect((await target.readStream('instance-a')).events.map((e) => [e.revision, e.id])).toEqual(
      (await source.readStream('instance-a')).events.map((e) => [e.revision, e.id]),
    );
    expect(await digestHistory(target)).toEqual(await digestHistory(source));
  });

  it('resumes an import that stopped half way', async () => {
    const source = new InMemoryEventStore();
    for (let i = 0; i < 10; i++) await source.appendToStream(`instance-${i % 3}`, [event(`${i}`)], i < 3 ? 'no_stream' : BigInt(Math.floor(i / 3) - 1));
    const lines = await exported(source);
    const target = new InMemoryEventStore();
    await importEvents(target, each(lines.slice(0, 6)));
    expect(await importEvents(target, each(lines))).toEqual({ read: 10, appended: 4, skipped: 6 });
    expect(await digestHistory(target)).toEqual(await digestHistory(source));
  });

  it('refuses a different event at a revision the target holds, and a gap in revisions', async () => {
    const source = new InMemoryEventStore();
    await source.appendToStream('instance-a', [event('a'), event('a')], 'no_stream');
    const [first, second] = await exported(source);
    const target = new InMemoryEventStore();
    await importEvents(target, each([first!]));
    await expect(importEvents(target, each([{ ...first!, id: 'other' }]))).rejects.toThrow(ImportConflictError);
    await expect(importEvents(new InMemoryEventStore(), each([second!]))).rejects.toThrow(/jumps from revision -1 to 1/);
  });

  it('digests differ when one event differs', async () => {
    const a = new InMemoryEventStore();
    const b = new InMemoryEventStore();
    const e = event('x');
    await a.appendToStream('instance-x', [e], 'no_stream');
    await b.appendToStream('instance-x', [{ ...e, data: { name: 'y' } }], 'no_stream');
    expect((await digestHistory(a)).sha256).not.toBe((await digestHistory(b)).sha256);
  });
});
