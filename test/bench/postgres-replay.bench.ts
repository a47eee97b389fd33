// Replay into the PostgreSQL read model: BENCH_REPLAY_EVENTS (1 000 000) events are seeded into a
// fresh schema's events table with INSERT ... SELECT FROM generate_series (rows shaped like the real
// ones: per instance stream `instance-<id>`, revisions 0, 1, 2: instance.added {name},
// instance.domain.added {domain, generated}, instance.smtp.config.added {id, sender…, password
// {cryptoType, algorithm, keyId, crypted}, …}, metadata {instanceId, editorUserId, createdAt,
// correlationId, causationId, schemaVersion}), vacuumed and analysed, and then read four ways:
//   - bare page loop: the follower's page query (position > $1 ORDER BY position LIMIT 500) on one
//     connection, rows as node-postgres returns them (the floor for reading the log);
//   - subscribeToAll drained: PostgresEventStore's subscription up to "caught-up", each event
//     mapped to a RecordedEvent (reading the log as the projection does);
//   - catch-up into InMemoryProjectionStore: catchUpReadModel with a read model that costs nothing
//     to write (reading + the projection's handler + the runner);
//   - catch-up into PostgresProjectionStore from an empty read model: the measurement of the goal,
//     ≥ 50 000 events/s. Time in the feed (awaiting the subscription's next item, which includes
//     reading pages) and in applyBatch is summed, and applyBatch's statements are profiled by kind.
// With BENCH_REPLAY_ROUNDS > 1 the four are interleaved in a rotating order and medians reported.
import { performance } from 'node:perf_hooks';
import {
  catchUpReadModel,
  InMemoryProjectionStore,
  PostgresEventStore,
  PostgresProjectionStore,
  type EventStore,
  type SubscriptionItem,
} from '../support/everything.js';
import { freshPostgresSchema } from '../support/adapters.js';
import { seedRequest } from '../support/fixtures.js';
import { envNumber, fmt, median, seconds } from './bench-util.js';
import { StatementProfiler } from './pg-bench-util.js';

export interface PostgresReplayBenchResult {
  readonly events: number;
  readonly eventsPerSecond: Readonly<Record<string, number>>;
  readonly goalMet: boolean;
}

const GOAL = 50_000;
const PAGE = 500;
const CHUNK = 150_000; // events per INSERT statement while seeding

const smtpData = JSON.stringify({
  id: '@C',
  senderAddress: seedRequest.senderAddress,
  senderName: seedRequest.senderName,
  tls: seedRequest.tls,
  host: seedRequest.host,
  user: seedRequest.user,
  password: { cryptoType: 'encryption', algorithm: 'AES-256-GCM', keyId: 'key-2026-11', crypted: '@P' },
  replyToAddress: seedRequest.replyToAddress,
  description: seedRequest.description,
});
const metadata = (editor: string, correlation: string) =>
  JSON.stringify({ instanceId: '@I', editorUserId: editor, createdAt: '@T', correlationId: correlation, causationId: correlation, schemaVersion: 1 });

/** Seeds `total` events, three per instance stream, in position order; returns the time it took. */
export const seedReplayEvents = async (pool: import('pg').Pool, s: string, total: number): Promise<number> => {
  const t0 = performance.now();
  const instances = Math.ceil(total / 3);
  const perChunk = CHUNK / 3;
  for (let from = 1; from <= instances; from += perChunk) {
    const to = Math.min(instances, from + perChunk - 1);
    await pool.query(
      `INSERT INTO ${s}.events (stream_id, revision, event_id, type, data, metadata)
       SELECT 'instance-' || (231000000000000000 + k), t.r,
              md5(k::text || '/' || t.r::text)::uuid::text, t.type,
              replace(replace(replace(t.data, '@K', k::text), '@C', (232000000000000000 + k)::text),
                      '@P', encode(sha256(k::text::bytea), 'base64') || encode(sha256(('p' || k)::bytea), 'base64'))::json,
              replace(replace(replace(t.meta, '@I', (231000000000000000 + k)::text), '@C', (232000000000000000 + k)::text),
                      '@T', to_char(timestamp '2024-06-11 10:37:15.680' + k * interval '1 millisecond', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))::json
       FROM generate_series($1::bigint, $2::bigint) AS k
       CROSS JOIN (VALUES (0, 'instance.added', '{"name":"instance@K"}', $4::text),
                          (1, 'instance.domain.added', '{"domain":"instance@K.example.com","generated":true}', $4::text),
                          (2, 'instance.smtp.config.added', $5::text, $6::text)) AS t(r, type, data, meta)
       WHERE 3 * (k - 1) + t.r < $3
       ORDER BY k, t.r`,
      [from, to, total, metadata('SYSTEM', 'setup-instance-@I'), smtpData, metadata('69629023906488001', 'add-smtp-@C')],
    );
    process.stdout.write(`\r  seeded ${fmt(Math.min(total, to * 3))} / ${fmt(total)} events`);
  }
  process.stdout.write('\n');
  await pool.query(`VACUUM (ANALYZE) ${s}.events`);
  return performance.now() - t0;
};

/** An event store whose subscriptions add the time spent waiting for each next item to `clock.feedMs`. */
const timedFeed = (events: EventStore, clock: { feedMs: number }): EventStore => ({
  readStream: (streamId) => events.readStream(streamId),
  appendToStream: (streamId, newEvents, expected) => events.appendToStream(streamId, newEvents, expected),
  headPosition: () => events.headPosition(),
  close: () => events.close(),
  subscribeToAll: (options) => ({
    [Symbol.asyncIterator]: () => {
      const it = events.subscribeToAll(options)[Symbol.asyncIterator]();
      return {
        async next(): Promise<IteratorResult<SubscriptionItem>> {
          const t0 = performance.now();
          try {
            return await it.next();
          } finally {
            clock.feedMs += performance.now() - t0;
          }
        },
        async return(value?: unknown): Promise<IteratorResult<SubscriptionItem>> {
          return it.return ? it.return(value) : { done: true, value: undefined };
        },
      };
    },
  }),
});

export const runPostgresReplayBench = async (): Promise<PostgresReplayBenchResult> => {
  const total = envNumber('BENCH_REPLAY_EVENTS', 1_000_000);
  const rounds = envNumber('BENCH_REPLAY_ROUNDS', 1);
  const V = {
    bare: 'bare page loop',
    drain: 'subscribeToAll drained',
    memory: 'catch-up into InMemoryProjectionStore',
    postgres: 'catch-up into PostgresProjectionStore',
  } as const;
  const variants = Object.values(V);
  console.log(`\nPostgreSQL replay of ${fmt(total)} events, ${rounds} round(s) of each variant (BENCH_REPLAY_EVENTS, BENCH_REPLAY_ROUNDS)`);
  const db = await freshPostgresSchema(4);
  const s = db.schema;
  let events: PostgresEventStore | undefined;
  const results = new Map<string, number[]>(variants.map((v) => [v, []]));
  const breakdown: { totalMs: number; feedMs: number; applyMs: number; batches: number; cpuMs: number }[] = [];
  const cpu: Record<string, number[]> = {};
  const profiler = new StatementProfiler(s);
  const notes: string[] = [];
  try {
    events = await PostgresEventStore.open(db.pool, { schema: s });
    const readModel = await PostgresProjectionStore.open(db.pool, { schema: s });
    const seedMs = await seedReplayEvents(db.pool, s, total);
    const [size] = (await db.pool.query<{ table: string; total: string }>(
      `SELECT pg_size_pretty(pg_table_size('${s}.events')) AS table, pg_size_pretty(pg_total_relation_size('${s}.events')) AS total`,
    )).rows;
    console.log(`  seeded in ${seconds(seedMs)} (INSERT … SELECT FROM generate_series, VACUUM ANALYZE); events table ${size?.table}, with indexes ${size?.total}`);
    const head = await events.headPosition();
    if (head?.commit !== BigInt(total)) throw new Error(`seeding left the head at ${head?.commit}, expected ${total}`);
    const store = events;

    const run = async (variant: string): Promise<number> => {
      switch (variant) {
        case V.bare: {
          const client = await db.pool.connect();
          try {
            const t0 = performance.now();
            let after = '0';
            let n = 0;
            for (;;) {
              const { rows } = await client.query<{ position: string }>(
                `SELECT position, stream_id, revision, event_id, type, data, metadata FROM ${s}.events WHERE position > $1 ORDER BY position LIMIT $2`,
                [after, PAGE],
              );
              n += rows.length;
              if (rows.length < PAGE) break;
              after = rows.at(-1)!.position;
            }
            if (n !== total) throw new Error(`the bare loop read ${n} events`);
            return n / ((performance.now() - t0) / 1000);
          } finally {
            client.release();
          }
        }
        case V.drain: {
          const abort = new AbortController();
          const t0 = performance.now();
          let n = 0;
          for await (const item of store.subscribeToAll({ streamPrefixes: ['instance-'], signal: abort.signal })) {
            if (item.kind === 'event') n++;
            else if (item.kind === 'caught-up') break;
          }
          abort.abort();
          if (n !== total) throw new Error(`the subscription delivered ${n} events`);
          return n / ((performance.now() - t0) / 1000);
        }
        case V.memory: {
          const target = new InMemoryProjectionStore();
          const t0 = performance.now();
          await catchUpReadModel(store, target, 3_600_000);
          const perSecond = total / ((performance.now() - t0) / 1000);
          if ((await target.checkpoint())?.commit !== BigInt(total)) throw new Error('the in-memory read model did not reach the head');
          return perSecond;
        }
        case V.postgres: {
          await readModel.reset();
          const clock = { feedMs: 0 };
          let applyMs = 0;
          let batches = 0;
          const applyBatch = readModel.applyBatch;
          readModel.applyBatch = async (batch) => {
            const t = performance.now();
            try {
              return await applyBatch.call(readModel, batch);
            } finally {
              applyMs += performance.now() - t;
              batches++;
            }
          };
          profiler.reset();
          profiler.start();
          const cpu0 = process.cpuUsage();
          const t0 = performance.now();
          try {
            await catchUpReadModel(timedFeed(store, clock), readModel, 3_600_000);
          } finally {
            profiler.stop();
            readModel.applyBatch = applyBatch;
          }
          const totalMs = performance.now() - t0;
          const used = process.cpuUsage(cpu0);
          breakdown.push({ totalMs, feedMs: clock.feedMs, applyMs, batches, cpuMs: (used.user + used.system) / 1000 });
          const [counts] = (await db.pool.query<{ i: string; d: string; c: string }>(
            `SELECT (SELECT count(*) FROM ${s}.instances) AS i, (SELECT count(*) FROM ${s}.instance_domains) AS d, (SELECT count(*) FROM ${s}.smtp_configs) AS c`,
          )).rows;
          const expected = [Math.ceil(total / 3), Math.ceil((total - 1) / 3), Math.floor(total / 3)];
          if (![counts!.i, counts!.d, counts!.c].every((x, i) => Number(x) === expected[i])) {
            throw new Error(`the read model holds ${counts!.i} instances, ${counts!.d} domains, ${counts!.c} configurations; expected ${expected.join(', ')}`);
          }
          return total / (totalMs / 1000);
        }
        default:
          throw new Error(variant);
      }
    };

    for (let r = 0; r < rounds; r++) {
      const order = variants.map((_, i) => variants[(i + r) % variants.length]!);
      const line: string[] = [];
      for (const variant of order) {
        const cpu0 = process.cpuUsage();
        const t0 = performance.now();
        const perSecond = await run(variant);
        const used = process.cpuUsage(cpu0);
        (cpu[variant] ??= []).push((used.user + used.system) / 1000 / (performance.now() - t0));
        results.get(variant)!.push(perSecond);
        line.push(`${variant} ${fmt(perSecond)}`);
      }
      console.log(`  round ${r + 1}: ${line.join(', ')} events/s`);
    }

    const explain = await db.pool.query<{ 'QUERY PLAN': string }>(
      `EXPLAIN (ANALYZE, BUFFERS) SELECT position, stream_id, revision, event_id, type, data, metadata FROM ${s}.events WHERE position > $1 ORDER BY position LIMIT $2`,
      [Math.floor(total / 2), PAGE],
    );
    notes.push(
      `EXPLAIN ANALYZE of one page query (position > ${fmt(Math.floor(total / 2))}, LIMIT ${PAGE}):`,
      ...explain.rows.map((r) => `    ${r['QUERY PLAN']}`),
    );
  } finally {
    await events?.close();
    await db.drop();
  }

  const med = Object.fromEntries(variants.map((v) => [v, median(results.get(v)!)])) as Record<string, number>;
  const label: Record<string, string> = {
    [V.bare]: `bare page loop (node-postgres, pages of ${PAGE}, rows not mapped)`,
    [V.drain]: 'PostgresEventStore.subscribeToAll drained to caught-up (reading the log)',
    [V.memory]: 'catchUpReadModel into InMemoryProjectionStore (reading + handler + runner)',
    [V.postgres]: 'catchUpReadModel into PostgresProjectionStore, from empty',
  };
  for (const v of variants) {
    const xs = results.get(v)!;
    console.log(
      `${label[v]}: ${fmt(med[v]!)} events/s${xs.length > 1 ? ` (median; min ${fmt(Math.min(...xs))}, max ${fmt(Math.max(...xs))})` : ''}; this process busy ${fmt(100 * median(cpu[v] ?? [0]))}% of the time`,
    );
  }
  const b = breakdown.sort((x, y) => x.totalMs - y.totalMs)[Math.floor(breakdown.length / 2)]!;
  const other = b.totalMs - b.feedMs - b.applyMs;
  console.log(
    `Where the PostgreSQL catch-up's ${seconds(b.totalMs)} went: waiting for the feed (reading pages, mapping rows) ${seconds(b.feedMs)} (${fmt((100 * b.feedMs) / b.totalMs)}%), ` +
      `applyBatch ${seconds(b.applyMs)} (${fmt((100 * b.applyMs) / b.totalMs)}%) in ${fmt(b.batches)} batches of ${fmt(total / b.batches, 1)} events (${fmt(b.applyMs / b.batches, 2)} ms each), ` +
      (other >= 0
        ? `the rest (handler, runner) ${seconds(other)} (${fmt((100 * other) / b.totalMs)}%)`
        : `overlapping by ${seconds(-other)}: the runner applies a full batch while the feed reads the next page`),
  );
  console.log(`  statements of the catch-up (last round), per batch of the read model:`);
  for (const l of profiler.report(b.batches, 'batch')) console.log(`    ${l}`);
  for (const l of notes) console.log(`  ${l}`);
  const readOnly = 1 / med[V.drain]!;
  const pgPer = 1 / med[V.postgres]!;
  console.log(
    `per event: PostgreSQL catch-up ${fmt(pgPer * 1e6, 1)} µs, of which reading the log (subscribeToAll alone) ${fmt(readOnly * 1e6, 1)} µs and the in-memory catch-up ${fmt((1 / med[V.memory]!) * 1e6, 1)} µs`,
  );
  const goalMet = med[V.postgres]! >= GOAL;
  console.log(`replay into the PostgreSQL read model: ${fmt(med[V.postgres]!)} events/s — goal ≥ ${fmt(GOAL)}: ${goalMet ? 'MET' : 'NOT MET'}`);
  return { events: total, eventsPerSecond: med, goalMet };
};
