import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { PostgresEventStore, type EventMetadata, type RecordedEvent } from '../support/everything.js';
import { freshPostgresSchema, postgresSkipReason, testDatabaseUrl } from '../support/adapters.js';

const metadata: EventMetadata = { instanceId: 'i', editorUserId: 'u', createdAt: '2024-06-11T10:37:15.680Z', correlationId: 'c', causationId: 'c', schemaVersion: 1 };
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

describe.skipIf(postgresSkipReason !== undefined)('PostgreSQL global order', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  it('never lets a follower skip or repeat an event while 16 connections append with delayed commits', { timeout: 120_000 }, async () => {
    const db = await freshPostgresSchema(2);
    cleanup.push(() => db.drop());
    const follower = await PostgresEventStore.open(db.pool, { schema: db.schema, pollIntervalMs: 5 });
    cleanup.push(() => follower.close());

    const WRITERS = 16;
    const APPENDS = 20;
    const writers = await Promise.all(
      Array.from({ length: WRITERS }, async () => {
        // A connection of its own for each writer, and a random pause inside every transaction before COMMIT.
        const pool = new pg.Pool({ connectionString: testDatabaseUrl, max: 1 });
        const store = await PostgresEventStore.open(pool, { schema: db.schema, holdBeforeCommitMs: () => Math.random() * 15 });
        cleanup.push(async () => {
          await store.close();
          await pool.end();
        });
        return store;
      }),
    );

    const seen: RecordedEvent[] = [];
    const abort = new AbortController();
    const total = WRITERS * APPENDS;
    const following = (async () => {
      for await (const item of follower.subscribeToAll({ signal: abort.signal })) {
        if (item.kind === 'event') seen.push(item.event);
        if (seen.length >= total) abort.abort();
      }
    })();

    const written: string[] = [];
    await Promise.all(
      writers.map(async (store, w) => {
        for (let i = 0; i < APPENDS; i++) {
          const id = `00000000-0000-4000-8000-${(w * 1000 + i).toString(16).padStart(12, '0')}`;
          await store.appendToStream(`instance-w${w}`, [{ id, type: 'test.happened', data: { w, i }, metadata }], i === 0 ? 'no_stream' : BigInt(i - 1));
          written.push(id);
          await sleep(Math.random() * 3);
        }
      }),
    );
    await Promise.race([following, sleep(20_000)]);
    abort.abort();

    const positions = seen.map((e) => e.position.commit);
    expect(positions).toEqual([...positions].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
    expect(new Set(positions).size).toBe(positions.length);
    expect(seen.map((e) => e.id).sort()).toEqual([...written].sort());
  });
});
