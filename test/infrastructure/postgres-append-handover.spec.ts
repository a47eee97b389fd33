import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { PostgresEventStore, PostgresProjectionStore, type EventMetadata, type NewEvent, type RecordedEvent, type SubscriptionItem } from '../support/everything.js';
import { freshPostgresSchema, postgresHarness, postgresSkipReason, testDatabaseUrl } from '../support/adapters.js';
import { configView, owner, positionOf as at, projectedRowsBatch, seedRequest } from '../support/fixtures.js';

/**
 * What a PostgreSQL store hands over from its own appends instead of reading them back: the events
 * its subscriptions get (LogFollower.offer, migration 0006's head), and the configuration row its
 * inline projection wrote (takeSmtpConfigProjectedAt). Both must be exactly what a read returns.
 */
describe.skipIf(postgresSkipReason !== undefined)('PostgreSQL hand-over of its own appends', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c().catch(() => undefined);
  });

  /** A schema with `stores` event stores on it, each on a pool of its own as replicas are; counts each store's page reads. */
  const open = async (stores: number) => {
    const db = await freshPostgresSchema(2);
    cleanup.push(() => db.drop());
    const pageReads: number[] = [];
    const opened: PostgresEventStore[] = [];
    for (let i = 0; i < stores; i++) {
      const pool = new pg.Pool({ connectionString: testDatabaseUrl, max: 4 });
      cleanup.push(() => pool.end());
      const query = pool.query.bind(pool) as (...args: unknown[]) => unknown;
      pageReads.push(0);
      (pool as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
        if (typeof args[0] === 'string' && args[0].includes('WHERE position > $1')) pageReads[i]!++;
        return query(...args);
      };
      const store = await PostgresEventStore.open(pool, { schema: db.schema, pollIntervalMs: 60_000 });
      cleanup.push(() => store.close());
      opened.push(store);
    }
    return { stores: opened, pageReads };
  };

  const meta = (i: number): EventMetadata => ({
    instanceId: `i${i}`,
    editorUserId: 'u1',
    createdAt: `2026-11-26T00:00:0${i % 10}.000Z`,
    correlationId: `c${i}`,
    causationId: `c${i}`,
    schemaVersion: 1,
  } as EventMetadata);

  const event = (i: number, data: unknown): NewEvent => ({ id: `e-${i}`, type: 'test.happened', data, metadata: meta(i) });

  /** Follows `store` until `count` events arrived; `seen` fills as they do. */
  const follow = (store: PostgresEventStore, count: number) => {
    const abort = new AbortController();
    cleanup.push(async () => abort.abort());
    const seen: RecordedEvent[] = [];
    const done = (async () => {
      for await (const item of store.subscribeToAll({ signal: abort.signal }) as AsyncIterable<SubscriptionItem>) {
        if (item.kind === 'event') seen.push(item.event);
        if (seen.length === count) break;
      }
      return seen;
    })();
    return { seen, done };
  };

  const settle = () => new Promise((r) => setTimeout(r, 50));

  it('hands its own appends to its subscriptions exactly as another replica reads them from the log', async () => {
    const { stores, pageReads } = await open(2);
    const [a, b] = stores as [PostgresEventStore, PostgresEventStore];
    // Data as events carry it: nested, unicode, numbers, nulls, an empty object, and a bigint (kept as a string).
    const payloads: unknown[] = [
      { id: '1', nested: { list: [1, 2.5, null, 'x'], empty: {} }, text: 'grüße 😀 "quoted" \\ back' },
      { big: 12345678901234567890n, flag: false },
      null,
      { many: Array.from({ length: 20 }, (_, k) => ({ k })) },
    ];
    const total = 8;
    const viaA = follow(a, total);
    const viaB = follow(b, total);
    await settle();
    const readsAtStart = pageReads[0]!;
    let i = 0;
    // A appends one, then two events, in separate batches: handed over, no read.
    await a.appendToStream('s-a', [event(i++, payloads[0])], 'no_stream');
    await a.appendToStream('s-a', [event(i++, payloads[1]), event(i++, payloads[2])], 0n);
    while (viaA.seen.length < 3) await settle();
    expect(pageReads[0]).toBe(readsAtStart);
    // B's append reaches A by a read, once its notification comes.
    await b.appendToStream('s-b', [event(i++, payloads[3])], 'no_stream');
    while (viaA.seen.length < 4) await settle();
    expect(pageReads[0]).toBe(readsAtStart + 1);
    // A again, once alone and once two requests in one batch: handed over again.
    await a.appendToStream('s-a', [event(i++, payloads[0])], 'any');
    await Promise.all([a.appendToStream('s-c', [event(i++, payloads[1])], 'no_stream'), a.appendToStream('s-d', [event(i++, payloads[3])], 'no_stream')]);
    await a.appendToStream('s-a', [event(i++, payloads[2])], 3n);
    const [fromA, fromB] = await Promise.all([viaA.done, viaB.done]);
    expect(pageReads[0]).toBe(readsAtStart + 1);
    expect(fromA.map((e) => e.position.commit)).toEqual(fromB.map((e) => e.position.commit));
    expect(fromA).toEqual(fromB);
    // And what a stream read returns.
    const read = (await a.readStream('s-a')).events;
    expect(fromA.filter((e) => e.streamId === 's-a')).toEqual(read);
    expect(fromA.find((e) => e.id === 'e-1')!.data).toEqual({ big: '12345678901234567890', flag: false });
  });

  it('answers an add with the row its own append wrote, without reading the configuration back', async () => {
    const pgh = await postgresHarness({ poolSize: 4, pollIntervalMs: 50 });
    cleanup.push(() => pgh.close());
    const { db, events, readModel, h } = pgh;
    const instanceId = await h.newInstance('handover');
    const configReads: string[] = [];
    const query = db.pool.query.bind(db.pool) as (...args: unknown[]) => unknown;
    (db.pool as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
      if (typeof args[0] === 'string' && /FROM \S+\.smtp_configs/.test(args[0])) configReads.push(args[0]);
      return query(...args);
    };
    const answer = await h.addSmtpConfig.execute({ principal: owner(instanceId), instanceId, body: seedRequest });
    expect(configReads).toEqual([]);
    const row = await readModel.smtpConfigById(instanceId, answer.id);
    expect(answer).toEqual({
      id: row!.id,
      details: { sequence: row!.sequence.toString(), creationDate: row!.creationDate, changeDate: row!.changeDate, resourceOwner: row!.resourceOwner },
    });
  });

  it('hands each inline-written row out once, only for the append that wrote it, and as patched later in that append', async () => {
    const db = await freshPostgresSchema(2);
    cleanup.push(() => db.drop());
    const readModel = await PostgresProjectionStore.open(db.pool, { schema: db.schema });
    const view = configView();
    readModel.noteInlineApplied(projectedRowsBatch(view));
    expect(readModel.takeSmtpConfigProjectedAt('i1', 'c1', at(11n))).toBeUndefined();
    expect(readModel.takeSmtpConfigProjectedAt('i2', 'c1', at(10n))).toBeUndefined();
    expect(readModel.takeSmtpConfigProjectedAt('i1', 'c1', at(10n))).toEqual(view);
    expect(readModel.takeSmtpConfigProjectedAt('i1', 'c1', at(10n))).toBeUndefined();
    expect(readModel.takeSmtpConfigProjectedAt('i1', 'c2', at(12n))).toEqual({ ...view, id: 'c2', senderName: 'B', sequence: 5n, changeDate: '2026-11-26T00:00:01.000Z' });
    expect(readModel.takeSmtpConfigProjectedAt('i1', 'c3', at(14n))).toBeUndefined();
  });

  it('keeps only the newest inline-written rows that nobody took', async () => {
    const db = await freshPostgresSchema(2);
    cleanup.push(() => db.drop());
    const readModel = await PostgresProjectionStore.open(db.pool, { schema: db.schema });
    const row = (n: number) => ({
      position: { commit: BigInt(n), prepare: BigInt(n) },
      changes: [
        {
          kind: 'upsertSmtpConfig' as const,
          config: {
            instanceId: `i${n}`, id: `c${n}`, senderAddress: 'a@example.com', senderName: 'A', tls: true, host: 'h:25', user: '', replyToAddress: '',
            description: '', hasPassword: false, sequence: 2n, creationDate: 'x', changeDate: 'x', resourceOwner: `i${n}`,
          },
        },
      ],
    });
    readModel.noteInlineApplied(Array.from({ length: 5_000 }, (_, k) => row(k + 1)));
    expect(readModel.takeSmtpConfigProjectedAt('i1', 'c1', { commit: 1n, prepare: 1n })).toBeUndefined();
    expect(readModel.takeSmtpConfigProjectedAt('i5000', 'c5000', { commit: 5000n, prepare: 5000n })?.id).toBe('c5000');
  });
});
