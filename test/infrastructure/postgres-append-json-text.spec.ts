import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { PostgresEventStore, type EventMetadata, type RecordedEvent, type SubscriptionItem } from '../support/everything.js';
import { freshPostgresSchema, postgresSkipReason, testDatabaseUrl } from '../support/adapters.js';

/**
 * The store hands its own appended events to subscriptions from the JSON text it sent (JSON.stringify
 * of data and metadata), not from the log: that is only right if the log keeps exactly that text.
 * append_batch's lean path (json_to_recordset) and append_to_stream (json operators) must both store
 * it unchanged, for any JSON value as data or metadata: scalars (a string's escapes, control
 * characters, non-ASCII, astral characters), nested values, big and small numbers, null.
 * (A "\u0000" or a lone surrogate is refused by PostgreSQL's json on both paths alike: left out.)
 */
describe.skipIf(postgresSkipReason !== undefined)('the JSON text of appended events, lean path and append_to_stream alike', () => {
  type Db = Awaited<ReturnType<typeof freshPostgresSchema>>;
  let db: Db;
  beforeAll(async () => {
    db = await freshPostgresSchema(2);
    await (await PostgresEventStore.open(db.pool, { schema: db.schema })).close();
  });
  afterAll(async () => {
    await db?.drop();
  });

  const acceptedByPostgres = (text: string) => !/\\u0000|\\ud[89ab][0-9a-f]{2}(?!\\ud[c-f])|(?<!\\ud[89ab][0-9a-f]{2})\\ud[c-f][0-9a-f]{2}/.test(text);
  const value = fc.jsonValue({ stringUnit: 'binary', maxDepth: 3 }).filter((v) => acceptedByPostgres(JSON.stringify(v)));
  let n = 0;

  it('keeps data and metadata as the text that was sent, on both paths', { timeout: 120_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(value, value, async (data, metadata) => {
        const id = `j${++n}`;
        const event = (suffix: string) => `{"id":"${id}${suffix}","type":"t","data":${JSON.stringify(data)},"metadata":${JSON.stringify(metadata)}}`;
        // Lean: fresh ids in one request of a batch. Fallback: append_to_stream itself.
        await db.pool.query(`SELECT * FROM ${db.schema}.append_batch($1, 0, NULL)`, [`[{"stream":"lean-${id}","expected":"any","events":[${event('a')}]}]`]);
        await db.pool.query(`SELECT * FROM ${db.schema}.append_to_stream($1, 'any', $2)`, [`full-${id}`, `[${event('b')}]`]);
        const { rows } = await db.pool.query<{ event_id: string; data: string; metadata: string }>(
          `SELECT event_id, data::text AS data, metadata::text AS metadata FROM ${db.schema}.events WHERE event_id IN ($1, $2) ORDER BY event_id`,
          [`${id}a`, `${id}b`],
        );
        const sent = { data: JSON.stringify(data), metadata: JSON.stringify(metadata) };
        expect(rows).toEqual([
          { event_id: `${id}a`, ...sent },
          { event_id: `${id}b`, ...sent },
        ]);
      }),
      { numRuns: 300, seed: 26112026 },
    );
  });

  it('reads back data that is a JSON string, or a string of digits, as that string, as its own subscriptions get it handed over', async () => {
    const pool = new pg.Pool({ connectionString: testDatabaseUrl, max: 2 });
    const writer = await PostgresEventStore.open(pool, { schema: db.schema, pollIntervalMs: 50 });
    const reader = await PostgresEventStore.open(pool, { schema: db.schema, pollIntervalMs: 50 });
    try {
      const head = (await writer.headPosition()) ?? { commit: 0n, prepare: 0n };
      const values: unknown[] = ['plain text', '123', 'null', '{"a":1}', { nested: '"quoted"' }];
      const collect = (store: PostgresEventStore) => {
        const abort = new AbortController();
        const seen: RecordedEvent[] = [];
        const done = (async () => {
          for await (const item of store.subscribeToAll({ after: head, signal: abort.signal }) as AsyncIterable<SubscriptionItem>) {
            if (item.kind === 'event') seen.push(item.event);
            if (seen.length === values.length) break;
          }
          return seen;
        })();
        return { done, abort };
      };
      const own = collect(writer);
      const other = collect(reader);
      await new Promise((r) => setTimeout(r, 50));
      const metadata = { instanceId: 'i', editorUserId: 'u', createdAt: 'x', correlationId: 'c', causationId: 'c', schemaVersion: 1 } as EventMetadata;
      await writer.appendToStream(
        'strings',
        values.map((data, k) => ({ id: `str-${k}`, type: 't', data, metadata })),
        'no_stream',
      );
      const timeout = setTimeout(() => {
        own.abort.abort();
        other.abort.abort();
      }, 5_000);
      const [handed, read] = await Promise.all([own.done, other.done]);
      clearTimeout(timeout);
      const stream = (await reader.readStream('strings')).events;
      expect(stream.map((e) => e.data)).toEqual(values);
      expect(read.map((e) => e.data)).toEqual(values);
      expect(handed.map((e) => e.data)).toEqual(values);
    } finally {
      await writer.close();
      await reader.close();
      await pool.end();
    }
  });
});
