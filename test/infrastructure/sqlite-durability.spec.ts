import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DomainError, SqliteEventStore, type EventMetadata, type NewEvent, type RecordedEvent } from '../support/everything.js';

// fdatasync is held or failed here to look at what the server's store does while a flush runs.
type Callback = (error: NodeJS.ErrnoException | null) => void;
const flushes = vi.hoisted(() => ({ held: [] as (() => void)[], hold: false, fail: undefined as NodeJS.ErrnoException | undefined, count: 0 }));
vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  const fdatasync = (fd: number, callback: Callback) => {
    flushes.count++;
    if (flushes.fail) return callback(flushes.fail);
    if (flushes.hold) return void flushes.held.push(() => fs.fdatasync(fd, callback));
    return fs.fdatasync(fd, callback);
  };
  return { ...fs, fdatasync, default: { ...fs, fdatasync } };
});

const metadata: EventMetadata = {
  instanceId: 'i1',
  editorUserId: 'u1',
  createdAt: '2024-06-11T10:37:15.680Z',
  correlationId: 'c1',
  causationId: 'c1',
  schemaVersion: 1,
};
let n = 0;
const event = (): NewEvent => ({ id: `00000000-0000-4000-8000-${(++n).toString(16).padStart(12, '0')}`, type: 'test.happened', data: { n }, metadata });
const settle = () => new Promise((r) => setTimeout(r, 30));
const release = () => {
  flushes.hold = false;
  for (const go of flushes.held.splice(0)) go();
};

describe('SQLite event store flushing on the thread pool (the server)', () => {
  let dir: string;
  let store: SqliteEventStore;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sqlite-durability-'));
    store = SqliteEventStore.open(dir, { durability: 'thread-pool', pollIntervalMs: 10 });
    Object.assign(flushes, { held: [], hold: false, fail: undefined, count: 0 });
  });
  afterEach(async () => {
    release();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs its connection with synchronous=NORMAL and flushes the log itself after each commit, where the tools keep synchronous=FULL', async () => {
    expect(store.database.pragma('synchronous', { simple: true })).toBe(1n); // NORMAL
    await store.appendToStream('instance-a', [event()], 'no_stream');
    expect(flushes.count).toBe(1);
    const tool = SqliteEventStore.open(dir);
    expect(tool.database.pragma('synchronous', { simple: true })).toBe(2n); // FULL
    await tool.appendToStream('instance-b', [event()], 'no_stream');
    expect(flushes.count).toBe(1);
    await tool.close();
  });

  it('answers an append only once the log is flushed, and until then keeps its events from subscriptions, from readStream of its stream and from headPosition', async () => {
    await store.appendToStream('instance-before', [event()], 'no_stream');
    const seen: RecordedEvent[] = [];
    const abort = new AbortController();
    let caughtUp = false;
    const following = (async () => {
      for await (const item of store.subscribeToAll({ signal: abort.signal })) {
        if (item.kind === 'caught-up') caughtUp = true;
        if (item.kind === 'event') seen.push(item.event);
      }
    })();
    await vi.waitFor(() => expect(caughtUp).toBe(true));
    expect(seen.map((e) => e.streamId)).toEqual(['instance-before']);

    flushes.hold = true;
    let answered = false;
    const appended = store.appendToStream('instance-held', [event()], 'no_stream').then((r) => ((answered = true), r));
    let read = false;
    const readHeld = store.readStream('instance-held');
    await vi.waitFor(() => expect(flushes.held).toHaveLength(1));
    const readAfterCommit = store.readStream('instance-held').then((r) => ((read = true), r));
    const head = store.headPosition();
    await settle(); // several poll intervals of the subscription
    expect(answered).toBe(false);
    expect(read).toBe(false);
    expect(seen.map((e) => e.streamId)).toEqual(['instance-before']);
    expect((await readHeld).currentRevision).toBeUndefined(); // asked before the commit
    expect((await store.readStream('instance-before')).currentRevision).toBe(0n); // other streams are not held up

    release();
    const result = await appended;
    expect(result.position.commit).toBe(2n);
    expect((await readAfterCommit).currentRevision).toBe(0n);
    expect(await head).toEqual({ commit: 2n, prepare: 2n });
    await vi.waitFor(() => expect(seen.map((e) => e.streamId)).toEqual(['instance-before', 'instance-held']));
    abort.abort();
    await following;
  });

  it('gathers the appends that arrive during a flush into the next transaction', async () => {
    await store.appendToStream('instance-first', [event()], 'no_stream');
    flushes.hold = true;
    const first = store.appendToStream('instance-0', [event()], 'no_stream');
    await vi.waitFor(() => expect(flushes.held).toHaveLength(1));
    const before = store.transactions;
    const rest = Array.from({ length: 5 }, (_, i) => store.appendToStream(`instance-${i + 1}`, [event()], 'no_stream'));
    await settle();
    expect(store.transactions).toBe(before); // they wait for the flush
    release();
    await Promise.all([first, ...rest]);
    expect(store.transactions).toBe(before + 1);
  });

  it('refuses the batch with Unavailable when the flush fails, and then takes no more writes', async () => {
    flushes.fail = Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
    const failed = await store.appendToStream('instance-lost', [event()], 'no_stream').then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failed).toBeInstanceOf(DomainError);
    expect([(failed as DomainError).kind, (failed as DomainError).id]).toEqual(['Unavailable', 'STORE-unav-7q3m']);
    expect((failed as DomainError).message).toContain('EIO');
    flushes.fail = undefined;
    await expect(store.appendToStream('instance-next', [event()], 'no_stream')).rejects.toMatchObject({ kind: 'Unavailable' });
    expect(() => store.appendMany([{ streamId: 'instance-bulk', events: [event()], expected: 'no_stream' }])).toThrow(/EIO/);
  });

  it('keeps acknowledged events across a reopen', async () => {
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => store.appendToStream(`instance-r${i}`, [event(), event()], 'no_stream')));
    await store.close();
    store = SqliteEventStore.open(dir, { durability: 'thread-pool' });
    for (let i = 0; i < 20; i++) expect((await store.readStream(`instance-r${i}`)).currentRevision).toBe(results[i]!.nextExpectedRevision);
  });
});
