import { appendFileSync, existsSync, mkdtempSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  catchUpReadModel,
  DataDirInUseError,
  DataDirLock,
  DomainError,
  loadConfig,
  SqliteEventStore,
  SqliteProjectionStore,
  StoreFileError,
  WrongExpectedRevisionError,
  type EventMetadata,
  type NewEvent,
  type SubscribeOptions,
} from '../support/everything.js';
import { openStores } from '../../src/infrastructure/bootstrap/open-stores.js';
import { GroupCommit } from '../../src/infrastructure/sql/group-commit.js';
import { LEGACY_LOG } from '../../src/infrastructure/sqlite/jsonl-import.js';
import { configView, createHarness, owner, positionOf as at, projectedRowsBatch, seedRequest } from '../support/fixtures.js';

const metadata: EventMetadata = {
  instanceId: 'i1',
  editorUserId: 'u1',
  createdAt: '2024-06-11T10:37:15.680Z',
  correlationId: 'c1',
  causationId: 'c1',
  schemaVersion: 1,
};
let n = 0;
const event = (type = 'test.happened'): NewEvent => ({ id: `00000000-0000-4000-8000-${(++n).toString(16).padStart(12, '0')}`, type, data: { n }, metadata });
const silent = pino({ level: 'silent' });

describe('SQLite event store', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sqlite-store-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps acknowledged events across a reopen, with the same revisions and positions', async () => {
    const first = SqliteEventStore.open(dir);
    await first.appendToStream('instance-1', [event(), event()], 'no_stream');
    await first.appendToStream('instance-2', [event()], 'no_stream');
    const before = await first.readStream('instance-1');
    await first.close();
    const second = SqliteEventStore.open(dir);
    expect(await second.readStream('instance-1')).toEqual(before);
    expect(await second.headPosition()).toEqual({ commit: 3n, prepare: 3n });
    await second.close();
  });

  it('commits appends that arrive together in one transaction, each judged on its own', async () => {
    const store = SqliteEventStore.open(dir);
    await store.appendToStream('instance-contested', [event()], 'no_stream');
    const transactionsBefore = store.transactions;
    const changes = store.database.prepare('SELECT total_changes() AS c').pluck();
    const before = changes.get() as bigint;
    const outcomes = await Promise.allSettled([
      ...Array.from({ length: 30 }, (_, i) => store.appendToStream(`instance-g${i}`, [event()], 'no_stream')),
      store.appendToStream('instance-contested', [event()], 0n),
      store.appendToStream('instance-contested', [event()], 0n), // loses to the one before it, in the same batch
    ]);
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(31);
    expect(outcomes.at(-1)).toMatchObject({ status: 'rejected', reason: expect.any(WrongExpectedRevisionError) });
    expect(store.transactions - transactionsBefore).toBe(1);
    expect((changes.get() as bigint) - before).toBe(31n);
    const positions = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value.position.commit] : []));
    expect(positions).toEqual(Array.from({ length: 31 }, (_, i) => 2n + BigInt(i)));
    await store.close();
  });

  it('answers a retried append with the first result instead of a conflict', async () => {
    const store = SqliteEventStore.open(dir);
    const events = [event(), event()];
    const first = await store.appendToStream('instance-r', events, 'no_stream');
    expect(await store.appendToStream('instance-r', events, 'no_stream')).toEqual(first);
    await expect(store.appendToStream('instance-r', [event()], 'no_stream')).rejects.toBeInstanceOf(WrongExpectedRevisionError);
    expect((await store.readStream('instance-r')).events).toHaveLength(2);
    await store.close();
  });

  it('fails appends with Unavailable while the disk is full, keeps nothing of them, and takes writes again once there is room', async () => {
    const store = SqliteEventStore.open(dir);
    await store.appendToStream('instance-full', [event()], 'no_stream');
    const pages = store.database.pragma('page_count', { simple: true }) as bigint;
    store.database.pragma(`max_page_count = ${pages}`);
    const big = (): NewEvent => ({ ...event(), data: { blob: 'x'.repeat(64 * 1024) } });
    const failed = await Promise.allSettled([store.appendToStream('instance-full', [big()], 0n), store.appendToStream('instance-other', [big()], 'no_stream')]);
    for (const outcome of failed) {
      expect(outcome.status).toBe('rejected');
      const reason = (outcome as PromiseRejectedResult).reason as DomainError;
      expect(reason).toBeInstanceOf(DomainError);
      expect([reason.kind, reason.id, reason.grpcCode]).toEqual(['Unavailable', 'STORE-unav-7q3m', 14]);
    }
    expect((await store.readStream('instance-full')).currentRevision).toBe(0n);
    expect((await store.readStream('instance-other')).currentRevision).toBeUndefined();
    store.database.pragma('max_page_count = 1073741823');
    await store.appendToStream('instance-full', [big()], 0n);
    await store.close();
    const reopened = SqliteEventStore.open(dir);
    expect((await reopened.readStream('instance-full')).currentRevision).toBe(1n);
    await reopened.close();
  });

  it('sees events that another process appends to the same file', async () => {
    const server = SqliteEventStore.open(dir, { pollIntervalMs: 10 });
    const tool = SqliteEventStore.open(dir);
    const abort = new AbortController();
    const seen: string[] = [];
    const following = (async () => {
      for await (const item of server.subscribeToAll({ signal: abort.signal } satisfies SubscribeOptions)) {
        if (item.kind === 'event') seen.push(item.event.streamId);
        if (seen.length === 1) abort.abort();
      }
    })();
    await new Promise((r) => setTimeout(r, 30));
    await tool.appendToStream('instance-from-the-tool', [event()], 'no_stream');
    await following;
    expect(seen).toEqual(['instance-from-the-tool']);
    await tool.close();
    await server.close();
  });

  it('refuses to open a damaged file, naming it and what to do', () => {
    SqliteEventStore.open(dir).close();
    const file = join(dir, SqliteEventStore.FILE);
    writeFileSync(file, 'this is not a database, it was overwritten by something else entirely'.repeat(100));
    expect(() => SqliteEventStore.open(dir)).toThrow(StoreFileError);
    expect(() => SqliteEventStore.open(dir)).toThrow(new RegExp(`${file}.*damaged.*restore it from a backup`));
  });

  it('refuses an emptied file instead of starting as a fresh install', async () => {
    const store = SqliteEventStore.open(dir);
    await store.appendToStream('instance-1', [event()], 'no_stream');
    await store.close();
    truncateSync(join(dir, SqliteEventStore.FILE), 0);
    expect(() => SqliteEventStore.open(dir)).toThrow(/exists but is empty/);
  });

  it('refuses a file whose schema comes from a newer version', () => {
    SqliteEventStore.open(dir).close();
    const db = new Database(join(dir, SqliteEventStore.FILE));
    db.prepare("INSERT INTO schema_migrations VALUES (99, 'future', 'x', '2030-01-01')").run();
    db.close();
    expect(() => SqliteEventStore.open(dir)).toThrow(/schema step 99 \(future\).*newer version/);
  });
});

describe('SQLite read model', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sqlite-read-model-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('resumes from its stored checkpoint after a restart instead of replaying the history', async () => {
    const events = SqliteEventStore.open(dir);
    const h = createHarness({ events, readModel: SqliteProjectionStore.open(dir) });
    const instanceId = await h.newInstance('acme');
    const { id } = await h.addSmtpConfig.execute({ principal: owner(instanceId), instanceId, body: seedRequest });
    const head = await events.headPosition();
    await h.close();
    await (h.readModel as SqliteProjectionStore).close();

    const reopenedEvents = SqliteEventStore.open(dir);
    const reopened = SqliteProjectionStore.open(dir);
    expect(await reopened.checkpoint()).toEqual(head);
    const asked: (SubscribeOptions | undefined)[] = [];
    const subscribe = reopenedEvents.subscribeToAll.bind(reopenedEvents);
    reopenedEvents.subscribeToAll = (options) => {
      asked.push(options);
      return subscribe(options);
    };
    await catchUpReadModel(reopenedEvents, reopened);
    expect(asked.map((o) => o?.after)).toEqual([head]); // from the checkpoint, not from the start
    await reopenedEvents.appendToStream('instance-later', [{ ...event('instance.added'), data: { name: 'later' }, metadata: { ...metadata, instanceId: 'later' } }], 'no_stream');
    await catchUpReadModel(reopenedEvents, reopened);
    expect(asked.map((o) => o?.after)).toEqual([head, head]);
    expect(await reopened.checkpoint()).toEqual(await reopenedEvents.headPosition());
    expect(await reopened.smtpConfigById(instanceId, id)).toMatchObject({ id, hasPassword: true });
    expect(await reopened.instanceById('later')).toMatchObject({ name: 'later' });
    await reopenedEvents.close();
    await reopened.close();
  });

  it('hands the configuration row a committed batch wrote to the command whose event made it, once, as a read returns it', async () => {
    const readModel = SqliteProjectionStore.open(dir);
    const view = configView();
    await readModel.applyBatch(projectedRowsBatch(view));
    // Already applied: skipped, so it leaves no row to hand out either.
    await readModel.applyBatch([{ position: at(10n), changes: [{ kind: 'upsertSmtpConfig', config: { ...view, id: 'c4' } }] }]);
    expect(readModel.takeSmtpConfigProjectedAt('i1', 'c1', at(11n))).toBeUndefined();
    expect(readModel.takeSmtpConfigProjectedAt('i2', 'c1', at(10n))).toBeUndefined();
    expect(readModel.takeSmtpConfigProjectedAt('i1', 'c1', at(10n))).toStrictEqual(await readModel.smtpConfigById('i1', 'c1'));
    expect(readModel.takeSmtpConfigProjectedAt('i1', 'c1', at(10n))).toBeUndefined();
    expect(readModel.takeSmtpConfigProjectedAt('i1', 'c2', at(12n))).toStrictEqual(await readModel.smtpConfigById('i1', 'c2'));
    expect(readModel.takeSmtpConfigProjectedAt('i1', 'c3', at(14n))).toBeUndefined();
    expect(readModel.takeSmtpConfigProjectedAt('i1', 'c4', at(10n))).toBeUndefined();
    // A batch that fails leaves nothing either.
    const broken = { changes: [{ kind: 'upsertSmtpConfig' as const, config: { instanceId: 'i1' } as never }], position: at(16n) };
    await expect(readModel.applyBatch([{ position: at(15n), changes: [{ kind: 'upsertSmtpConfig', config: { ...view, id: 'c5' } }] }, broken])).rejects.toThrow();
    expect(readModel.takeSmtpConfigProjectedAt('i1', 'c5', at(15n))).toBeUndefined();
    await readModel.close();
  });

  it('answers an added configuration from the row its projection wrote, without reading it back', async () => {
    const readModel = SqliteProjectionStore.open(dir);
    const h = createHarness({ events: SqliteEventStore.open(dir), readModel });
    const instanceId = await h.newInstance('acme');
    let reads = 0;
    const read = readModel.smtpConfigById.bind(readModel);
    readModel.smtpConfigById = (...args) => {
      reads++;
      return read(...args);
    };
    const answer = await h.addSmtpConfig.execute({ principal: owner(instanceId), instanceId, body: seedRequest });
    expect(reads).toBe(0);
    const row = await read(instanceId, answer.id);
    expect(answer).toEqual({
      id: row!.id,
      details: { sequence: row!.sequence.toString(), creationDate: row!.creationDate, changeDate: row!.changeDate, resourceOwner: row!.resourceOwner },
    });
    await h.close();
    await readModel.close();
  });

  it('applies a batch all or nothing, and skips what it has applied already', async () => {
    const readModel = SqliteProjectionStore.open(dir);
    const instance = (id: string, commit: bigint) => ({
      changes: [{ kind: 'upsertInstance' as const, instance: { id, name: id, domains: [], sequence: 1n, creationDate: '2024-06-11T10:37:15.680Z' } }],
      position: { commit, prepare: commit },
    });
    await readModel.applyBatch([instance('a', 1n), instance('b', 2n)]);
    await readModel.applyBatch([instance('b2', 2n), instance('c', 3n)]); // 2 was applied: only c goes in
    expect(await readModel.instanceById('b2')).toBeUndefined();
    expect(await readModel.instanceById('c')).toBeDefined();
    const broken = { changes: [{ kind: 'upsertSmtpConfig' as const, config: { instanceId: 'c' } as never }], position: { commit: 5n, prepare: 5n } };
    await expect(readModel.applyBatch([instance('d', 4n), broken])).rejects.toThrow();
    expect(await readModel.instanceById('d')).toBeUndefined();
    expect(await readModel.checkpoint()).toEqual({ commit: 3n, prepare: 3n });
    await readModel.close();
  });
});

describe('data directory', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'data-dir-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('admits one server at a time, and the next one once the first has let go', () => {
    const first = DataDirLock.acquire(dir);
    expect(() => DataDirLock.acquire(dir)).toThrow(DataDirInUseError);
    expect(() => DataDirLock.acquire(dir)).toThrow(`the data directory ${dir} is in use by another server`);
    first.release();
    DataDirLock.acquire(dir).release();
  });

  it('says that the holder may be a projection rebuild replacing a damaged read model, not only a server', () => {
    const rebuild = DataDirLock.acquire(dir); // what projection rebuild holds while it replaces a damaged read-model.db
    try {
      expect(() => DataDirLock.acquire(dir)).toThrow(`the data directory ${dir} is in use by another server, or by \`smtp-config projection rebuild\` replacing its damaged read-model.db`);
    } finally {
      rebuild.release();
    }
  });

  it('refuses to start when the read model has applied more than the event file holds', async () => {
    const config = loadConfig({ DATA_DIR: dir });
    const stores = await openStores(config, dir, silent, 'server');
    const h = createHarness({ events: stores.events, readModel: stores.readModel });
    await h.newInstance('acme');
    await h.runner.stop();
    await stores.close();
    rmSync(join(dir, SqliteEventStore.FILE));
    await expect(openStores(config, dir, silent, 'server')).rejects.toThrow(/end at nothing, but the read model has applied up to \d+.*Restore .*events\.db from a backup.*delete .*read-model\.db/);
    // And the failed start let go of the directory.
    DataDirLock.acquire(dir).release();
  });

  it('imports the JSON-lines log of an earlier version once, leaving out a torn last line', async () => {
    const line = (id: number, streamId: string, revision: number) =>
      JSON.stringify({ id: `00000000-0000-4000-8000-00000000000${id}`, streamId, revision: String(revision), position: String(id), type: 'test.happened', data: { id }, metadata });
    writeFileSync(join(dir, LEGACY_LOG), [line(1, 'instance-a', 0), line(2, 'instance-b', 0), line(3, 'instance-a', 1)].join('\n') + '\n');
    appendFileSync(join(dir, LEGACY_LOG), '{"id":"00000000-0000-4000-8000-00000000000');
    const config = loadConfig({ DATA_DIR: dir });
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (l: string) => lines.push(l) });
    const stores = await openStores(config, dir, logger, 'server');
    const a = await stores.events.readStream('instance-a');
    expect(a.events.map((e) => [e.id.at(-1), e.revision, e.data])).toEqual([['1', 0n, { id: 1 }], ['3', 1n, { id: 3 }]]);
    expect(await stores.events.headPosition()).toEqual({ commit: 3n, prepare: 3n });
    await stores.close();
    expect(existsSync(join(dir, LEGACY_LOG))).toBe(false);
    expect(readdirSync(dir).some((f) => f.startsWith(`${LEGACY_LOG}.imported-`))).toBe(true);
    expect(lines.join('')).toContain('imported 3 of 3 events');
    expect(lines.join('')).toContain('cut short by a crash');
  });

  it('stops on a damaged line in the middle of the old log, naming the file and the line', async () => {
    writeFileSync(join(dir, LEGACY_LOG), `{"id":"x"}\n{broken\n{"id":"y"}\n`);
    await expect(openStores(loadConfig({ DATA_DIR: dir }), dir, silent, 'server')).rejects.toThrow(new RegExp(`${join(dir, LEGACY_LOG)} line 1 is not an event`));
    writeFileSync(join(dir, LEGACY_LOG), `${JSON.stringify({ id: 'a', streamId: 's', revision: '0', type: 't', data: {}, metadata })}\n{broken\n{"id":"y"}\n`);
    await expect(openStores(loadConfig({ DATA_DIR: dir }), dir, silent, 'server')).rejects.toThrow(/events\.jsonl line 2 is damaged/);
    expect(existsSync(join(dir, LEGACY_LOG))).toBe(true);
  });
});

describe('group commit', () => {
  it('hands every request of one turn to one commit and answers each with its own outcome', async () => {
    const commits: number[][] = [];
    const group = new GroupCommit<number, number>((requests) => {
      commits.push([...requests]);
      return requests.map((r) => (r % 2 === 0 ? { ok: r * 10 } : { error: new Error(`odd ${r}`) }));
    });
    const outcomes = await Promise.allSettled([1, 2, 3, 4].map((r) => group.submit(r)));
    expect(commits).toEqual([[1, 2, 3, 4]]);
    expect(outcomes.map((o) => (o.status === 'fulfilled' ? o.value : (o.reason as Error).message))).toEqual(['odd 1', 20, 'odd 3', 40]);
    await group.submit(6);
    expect(commits).toEqual([[1, 2, 3, 4], [6]]);
  });

  it('fails every request of a batch whose commit failed, and caps the batch size', async () => {
    const sizes: number[] = [];
    const group = new GroupCommit<number, number>((requests) => {
      sizes.push(requests.length);
      if (requests.includes(0)) throw new Error('disk full');
      return requests.map((r) => ({ ok: r }));
    }, 3);
    const outcomes = await Promise.allSettled([0, 1, 2, 3, 4].map((r) => group.submit(r)));
    expect(sizes).toEqual([3, 2]);
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected', 'rejected', 'fulfilled', 'fulfilled']);
  });
});
