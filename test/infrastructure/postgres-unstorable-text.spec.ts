import { afterEach, describe, expect, it } from 'vitest';
import { PostgresEventStore, type NewEvent } from '../support/everything.js';
import { freshPostgresSchema, postgresSkipReason } from '../support/adapters.js';
import { testMetadata } from '../support/fixtures.js';

/**
 * PostgreSQL's text and json types cannot hold NUL (U+0000) or a lone surrogate. An embedder's event
 * carrying one must be refused alone, saying why, and not fail the appends that share its
 * group-commit transaction.
 */
describe.skipIf(postgresSkipReason !== undefined)('PostgreSQL appends with text the database cannot store', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c().catch(() => undefined);
  });

  const open = async () => {
    const db = await freshPostgresSchema(4);
    cleanup.push(() => db.drop());
    const store = await PostgresEventStore.open(db.pool, { schema: db.schema });
    cleanup.push(() => store.close());
    return store;
  };

  let n = 0;
  const event = (data: unknown, metadata = testMetadata('i1')): NewEvent => ({ id: `e${++n}`, type: 'embedder.thing.happened', data, metadata });

  it.each([
    ['a NUL in the data', event({ note: 'a\u0000b' }), 'the NUL character (U+0000)'],
    ['a lone surrogate in the data', event({ note: 'x\ud800' }), 'a lone UTF-16 surrogate'],
    ['a NUL in the metadata', event({ ok: true }, { ...testMetadata('i1'), correlationId: 'c\u0000' }), 'the NUL character (U+0000)'],
    ['a NUL in a key', event({ ['k\u0000']: 1 }), 'the NUL character (U+0000)'],
  ])('refuses an append with %s on its own, and the appends in the same batch go in', async (_what, bad, what) => {
    const store = await open();
    const results = await Promise.allSettled([
      store.appendToStream('s-1', [event({ n: 1 })], 'no_stream'),
      store.appendToStream('s-2', [bad], 'no_stream'),
      store.appendToStream('s-3', [event({ n: 3 }), event({ n: 4 })], 'no_stream'),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason).toMatchObject({ kind: 'InvalidArgument', id: 'STORE-text-5p2w', violations: [{ field: 'events', description: `contain ${what}, which PostgreSQL cannot store` }] });
    expect((await store.readStream('s-2')).events).toEqual([]);
    expect((await store.readStream('s-1')).events.map((e) => e.data)).toEqual([{ n: 1 }]);
    expect((await store.readStream('s-3')).events.map((e) => e.data)).toEqual([{ n: 3 }, { n: 4 }]);
  });

  it('stores text that only looks like such an escape, and characters outside the basic plane', async () => {
    const store = await open();
    const data = { literal: '\\u0000 and \\ud800 as typed', emoji: '😀', control: '\u0001\u001f' };
    await store.appendToStream('s-1', [event(data)], 'no_stream');
    expect((await store.readStream('s-1')).events[0]!.data).toEqual(data);
  });
});
