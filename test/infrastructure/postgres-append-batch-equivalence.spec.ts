import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresEventStore, PostgresProjectionStore } from '../support/everything.js';
import { freshPostgresSchema, postgresSkipReason } from '../support/adapters.js';

/**
 * append_batch (migration 0006) must answer exactly as its requests would, each appended alone in
 * order through append_to_stream: the same statuses, revisions and positions, the same events in
 * the log, and (with the read model at the head) the same inline rows, up to the first request
 * that cannot go inline. Generated batches mix fresh streams, several requests on one stream, wrong
 * and 'any' expectations, retried appends with the same ids, ids reused elsewhere, empty appends
 * and requests without changes.
 */
describe.skipIf(postgresSkipReason !== undefined)('append_batch against append_to_stream request by request, on generated batches', () => {
  type Db = Awaited<ReturnType<typeof freshPostgresSchema>>;
  let batchDb: Db;
  let refDb: Db;
  let batchModel: PostgresProjectionStore;
  let refModel: PostgresProjectionStore;
  beforeAll(async () => {
    batchDb = await freshPostgresSchema(2);
    refDb = await freshPostgresSchema(2);
    for (const db of [batchDb, refDb]) await (await PostgresEventStore.open(db.pool, { schema: db.schema })).close();
    batchModel = await PostgresProjectionStore.open(batchDb.pool, { schema: batchDb.schema });
    refModel = await PostgresProjectionStore.open(refDb.pool, { schema: refDb.schema });
  });
  afterAll(async () => {
    await batchDb?.drop();
    await refDb?.drop();
  });

  interface Request {
    stream: string;
    expected: string;
    events: { id: string; type: string; data: unknown; metadata: unknown }[];
    changes?: unknown[];
  }
  const request: fc.Arbitrary<Omit<Request, 'events'> & { ids: number[] }> = fc.record(
    {
      stream: fc.constantFrom('s1', 's2', 's3', 's4', 's5'),
      expected: fc.constantFrom('any', 'no_stream', '0', '1', '2', '3'),
      ids: fc.array(fc.nat(200), { minLength: 0, maxLength: 3 }),
      changes: fc.constant([]),
    },
    { requiredKeys: ['stream', 'expected', 'ids'] },
  );
  /** Ids from a small range repeat (retries, ids used by another stream); the rest are fresh. */
  let fresh = 1_000;
  const materialize = (r: Omit<Request, 'events'> & { ids: number[] }): Request => ({
    stream: r.stream,
    expected: r.expected,
    events: r.ids.map((n) => {
      const id = n < 20 ? `e${n}` : `e${++fresh}`;
      // Data as events carry it, a JSON null now and then.
      return { id, type: 'test.happened', data: n % 7 === 0 ? null : { id, text: 'grüße "q" \\', list: [1, 2.5, null] }, metadata: { by: 'test' } };
    }),
    ...(r.changes ? { changes: r.ids.map((n) => ({ kind: 'upsertInstance', instance: { id: `${r.stream}`, name: `n${n}`, domains: [], sequence: String(n), creationDate: 'x' } })) } : {}),
  });

  const reset = async (db: Db, model: PostgresProjectionStore) => {
    await db.pool.query(`TRUNCATE ${db.schema}.events RESTART IDENTITY`);
    await model.reset();
  };
  /** Puts the checkpoint at the log's head, so that appends project inline. */
  const atHead = async (db: Db, model: PostgresProjectionStore) => {
    const { rows } = await db.pool.query<{ p: string | null }>(`SELECT max(position) AS p FROM ${db.schema}.events`);
    if (rows[0]!.p) await model.saveCheckpoint({ commit: BigInt(rows[0]!.p), prepare: BigInt(rows[0]!.p) });
  };
  const log = async (db: Db) =>
    (await db.pool.query(`SELECT position, stream_id, revision, event_id, type, data::text, metadata::text FROM ${db.schema}.events ORDER BY position`)).rows;

  it('answers and writes alike', { timeout: 240_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(request, { minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 5 }), async (generated) => {
        await reset(batchDb, batchModel);
        await reset(refDb, refModel);
        fresh = 1_000;
        for (const g of generated) {
          const batch = g.map(materialize);
          await atHead(batchDb, batchModel);
          const { rows: got } = await batchDb.pool.query(
            `SELECT r_index::int AS k, r_status AS status, r_next_revision::text AS next, r_last_position::text AS last, r_projected AS projected
             FROM ${batchDb.schema}.append_batch($1, 0, $2) ORDER BY r_index`,
            [JSON.stringify(batch), batchModel.projectionName],
          );
          // The reference: each request alone; its changes applied while every request so far went inline.
          const { rows: head } = await refDb.pool.query<{ p: string | null }>(`SELECT max(position) AS p FROM ${refDb.schema}.events`);
          let inline = true;
          // The head as the batch moves it: a retried append answered with positions of this batch
          // (at or below it) is not new, and is not projected twice.
          let headNow = BigInt(head[0]!.p ?? 0);
          const want = [];
          for (const [i, r] of batch.entries()) {
            const { rows } = await refDb.pool.query<{ status: string; next: string | null; last: string | null }>(
              `SELECT status, next_revision::text AS next, last_position::text AS last FROM ${refDb.schema}.append_to_stream($1, $2, $3)`,
              [r.stream, r.expected, JSON.stringify(r.events)],
            );
            const row = rows[0]!;
            let projected = false;
            if (row.status === 'ok' && r.events.length > 0 && BigInt(row.last!) > headNow) {
              headNow = BigInt(row.last!);
              if (inline && r.changes) {
                await refDb.pool.query(`SELECT ${refDb.schema}.apply_read_model_changes($1)`, [JSON.stringify(r.changes)]);
                projected = true;
              } else inline = false;
            }
            want.push({ k: i + 1, status: row.status, next: row.next, last: row.last, projected });
          }
          expect(got).toEqual(want);
        }
        expect(await log(batchDb)).toEqual(await log(refDb));
        const rowsOf = async (db: Db) => (await db.pool.query(`SELECT id, name, sequence FROM ${db.schema}.instances ORDER BY id`)).rows;
        expect(await rowsOf(batchDb)).toEqual(await rowsOf(refDb));
      }),
      { numRuns: 80, seed: 20261126 },
    );
  });

  it('answers an append retried within its own batch as the first time, and projects it once', async () => {
    await reset(batchDb, batchModel);
    await atHead(batchDb, batchModel);
    const request = materialize({ stream: 's1', expected: 'no_stream', ids: [3], changes: [] });
    const { rows } = await batchDb.pool.query(
      `SELECT r_status AS status, r_next_revision::text AS next, r_last_position::text AS last, r_projected AS projected FROM ${batchDb.schema}.append_batch($1, 0, $2) ORDER BY r_index`,
      [JSON.stringify([request, request]), batchModel.projectionName],
    );
    expect(rows).toEqual([
      { status: 'ok', next: '0', last: '1', projected: true },
      { status: 'ok', next: '0', last: '1', projected: false },
    ]);
    expect(await log(batchDb)).toHaveLength(1);
  });
});
