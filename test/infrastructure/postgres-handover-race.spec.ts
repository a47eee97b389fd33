import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { PostgresEventStore, type EventMetadata, type NewEvent, type RecordedEvent, type SubscriptionItem } from '../support/everything.js';
import { freshPostgresSchema, postgresSkipReason, testDatabaseUrl } from '../support/adapters.js';

/**
 * Adversarial: two stores (replicas) append to one schema at once, with random commit delays, retried
 * appends, several requests on one stream in one batch, and a backend killed while its batch is
 * being committed (which leaves a gap in the position sequence). Every subscription, whichever
 * store it is on, wherever it starts and whatever streams it filters, must see exactly the log as a
 * fresh read returns it: no event skipped, repeated or out of order, and the same data.
 */
describe.skipIf(postgresSkipReason !== undefined)('PostgreSQL hand-over under concurrent writers', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c().catch(() => undefined);
  });

  const meta = (i: number): EventMetadata =>
    ({ instanceId: `i${i % 3}`, editorUserId: 'u', createdAt: '2026-11-26T00:00:00.000Z', correlationId: `c${i}`, causationId: `c${i}`, schemaVersion: 1 }) as EventMetadata;
  const data = (i: number): unknown =>
    [{ i, s: `ü "q" \\ \t ${i}` }, null, { plain: `p ${i}` }, { big: BigInt(i) * 10_000_000_000_000_000n }, [i, { n: { m: [] } }], 1.5 * i][i % 6];

  /** Collects every event a subscription yields, from `after`, restricted to `prefixes`. */
  const subscribe = (store: PostgresEventStore, after: bigint | undefined, prefixes?: string[]) => {
    const abort = new AbortController();
    cleanup.push(async () => abort.abort());
    const seen: RecordedEvent[] = [];
    void (async () => {
      const options = { signal: abort.signal, ...(after === undefined ? {} : { after: { commit: after, prepare: after } }), ...(prefixes ? { streamPrefixes: prefixes } : {}) };
      for await (const item of store.subscribeToAll(options) as AsyncIterable<SubscriptionItem>) {
        if (item.kind === 'event') seen.push(item.event);
      }
    })().catch(() => undefined);
    return { seen, after: after ?? 0n, prefixes };
  };

  it('gives every subscription on either store the log exactly as a fresh read does, through races, retries and a killed commit', async () => {
    const db = await freshPostgresSchema(2);
    cleanup.push(() => db.drop());
    let killNext = false;
    const stores: PostgresEventStore[] = [];
    const pools: pg.Pool[] = [];
    for (let s = 0; s < 2; s++) {
      const pool = new pg.Pool({ connectionString: testDatabaseUrl, max: 3 });
      pool.on('error', () => undefined);
      cleanup.push(() => pool.end());
      pools.push(pool);
      const store = await PostgresEventStore.open(pool, {
        schema: db.schema,
        pollIntervalMs: 60_000,
        holdBeforeCommitMs: () => {
          if (killNext) {
            killNext = false;
            return 1_500;
          }
          return Math.random() < 0.3 ? Math.floor(Math.random() * 15) : 0;
        },
      });
      cleanup.push(() => store.close());
      stores.push(store);
    }
    const [a, b] = stores as [PostgresEventStore, PostgresEventStore];
    const subs = [subscribe(a, undefined), subscribe(b, undefined), subscribe(a, undefined, ['x-']), subscribe(b, undefined, ['y-', 'z-'])];

    let n = 0;
    const revision = new Map<string, bigint>();
    const sent: { store: PostgresEventStore; stream: string; events: NewEvent[]; expected: bigint | 'no_stream' | 'any' }[] = [];
    const append = async (store: PostgresEventStore, stream: string, count: number) => {
      const events = Array.from({ length: count }, () => {
        const i = n++;
        return { id: `e-${i}`, type: 'test.happened', data: data(i), metadata: meta(i) };
      });
      const expected = Math.random() < 0.5 ? 'any' : (revision.get(stream) ?? 'no_stream');
      sent.push({ store, stream, events, expected });
      try {
        const r = await store.appendToStream(stream, events, expected);
        revision.set(stream, r.nextExpectedRevision);
      } catch {
        // a conflict (another writer on the stream) or the killed batch: the events are not in the log
      }
    };
    let killedOutcome = '';
    const streams = ['x-1', 'x-2', 'y-1', 'z-1', 'w-1'];
    const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)]!;

    for (let round = 0; round < 30; round++) {
      if (round === 10) subs.push(subscribe(a, 3n), subscribe(b, 7n, ['x-']));
      if (round === 20) {
        // A's next batch is held before it commits; its backend is killed meanwhile.
        killNext = true;
        const killed = a.appendToStream('x-1', [0, 1].map((k) => ({ id: `killed-${k}`, type: 'test.happened', data: null, metadata: meta(k) })), 'any').then(
          () => 'resolved',
          () => 'rejected',
        );
        const others = Promise.all([append(a, 'y-1', 1), append(b, 'z-1', 1)]);
        // Killed as soon as it is seen sleeping before its commit (polled: a loaded machine is slow to get there).
        for (let tries = 0; tries < 100; tries++) {
          await new Promise((r) => setTimeout(r, 10));
          const { rowCount } = await db.pool.query(
            `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%' || $1 || '.append_batch%' AND pid <> pg_backend_pid() AND state = 'active' AND wait_event = 'PgSleep'`,
            [db.schema],
          );
          if (rowCount) break;
        }
        killedOutcome = await killed;
        await others;
        subs.push(subscribe(a, BigInt(n)), subscribe(b, BigInt(Math.max(0, n - 5))));
        continue;
      }
      const work: Promise<void>[] = [];
      for (let k = 0; k < 6; k++) work.push(append(pick(stores), pick(streams), 1 + Math.floor(Math.random() * 3)));
      // A retried append (same ids, same expectation) in the same batch as new ones.
      const retry = sent[Math.floor(Math.random() * sent.length)];
      if (retry) work.push(retry.store.appendToStream(retry.stream, retry.events, retry.expected).then(() => undefined, () => undefined));
      await Promise.all(work);
    }

    // The log as a fresh reader sees it.
    const reader = new pg.Pool({ connectionString: testDatabaseUrl, max: 1 });
    cleanup.push(() => reader.end());
    const fresh = await PostgresEventStore.open(reader, { schema: db.schema, pollIntervalMs: 60_000 });
    cleanup.push(() => fresh.close());
    const log: RecordedEvent[] = [];
    for await (const item of fresh.subscribeToAll({}) as AsyncIterable<SubscriptionItem>) {
      if (item.kind === 'caught-up') break;
      if (item.kind === 'event') log.push(item.event);
    }
    const positions = log.map((e) => e.position.commit);
    expect(new Set(positions).size).toBe(positions.length);
    // The killed batch failed, and left a gap in the positions (its sequence values are spent).
    expect(killedOutcome).toBe('rejected');
    expect(Number(positions.at(-1)!)).toBeGreaterThan(positions.length);

    for (const sub of subs) {
      const want = log.filter((e) => e.position.commit > sub.after && (!sub.prefixes || sub.prefixes.some((p) => e.streamId.startsWith(p))));
      const deadline = Date.now() + 5_000;
      while (sub.seen.length < want.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      await new Promise((r) => setTimeout(r, 50));
      expect({ after: sub.after, prefixes: sub.prefixes, events: sub.seen }).toEqual({ after: sub.after, prefixes: sub.prefixes, events: want });
    }
  }, 60_000);
});
