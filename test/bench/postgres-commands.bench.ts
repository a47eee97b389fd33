// AddSmtpConfig end to end on PostgreSQL (the use case on PostgresEventStore and
// PostgresProjectionStore sharing one pg.Pool of BENCH_PG_POOL connections, 10 like the server's
// DATABASE_POOL_SIZE, wired like test/support/fixtures.ts), run (a) one command at a time and
// (b) BENCH_PG_CONCURRENCY (16) commands in flight, each command on an instance of its own set up
// before the timed part, against (c) a bare node-postgres loop doing per command what the store must
// do at least: one SELECT of the stream's events, then one INSERT of an event row in a transaction
// of its own (autocommit: one commit, one WAL flush), on 1, 8 and 16 connections, each connection
// working through its share of the streams.
//
// Goals, as ratios measured in the same run (rounds interleave the variants in a rotating order; the
// median round counts, the machine is shared and noisy):
//   end to end, one at a time  ≥ 0.8 × bare loop on 1 connection;
//   end to end, 16 concurrent  ≥ 0.8 × bare loop on 8 connections.
// After the rounds, a diagnostic pass (not timed with the rounds) counts the round trips per command
// by kind of statement, which is what explains the ratios.
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { PostgresEventStore, PostgresProjectionStore } from '../support/everything.js';
import { freshPostgresSchema, testDatabaseUrl } from '../support/adapters.js';
import { createHarness, owner, seedRequest, type Harness } from '../support/fixtures.js';
import { envNumber, fmt, median } from './bench-util.js';
import { StatementProfiler } from './pg-bench-util.js';

export interface PostgresCommandBenchResult {
  readonly commandsPerSecond: Readonly<Record<string, number>>;
  readonly sequentialOverBare1: number;
  readonly concurrentOverBare8: number;
  readonly sequentialGoalMet: boolean;
  readonly concurrentGoalMet: boolean;
}

const METADATA = (instanceId: string, editor: string, correlation: string) =>
  JSON.stringify({
    instanceId,
    editorUserId: editor,
    createdAt: '2024-06-11T10:37:15.680Z',
    correlationId: correlation,
    causationId: correlation,
    schemaVersion: 1,
  });

/** The bare loop's table: the events table of migrations/0001-events.ts, without the append function. */
class BareLoop {
  private streams = 0;
  private events = 0;
  private readonly config = JSON.stringify({
    id: '69629023906488335',
    senderAddress: seedRequest.senderAddress,
    senderName: seedRequest.senderName,
    tls: seedRequest.tls,
    host: seedRequest.host,
    user: seedRequest.user,
    password: { cryptoType: 'encryption', algorithm: 'AES-256-GCM', keyId: 'key-2026-11', crypted: 'x'.repeat(64) },
    replyToAddress: seedRequest.replyToAddress,
    description: seedRequest.description,
  });

  constructor(
    private readonly pool: pg.Pool,
    private readonly table: string,
  ) {}

  async create(): Promise<void> {
    await this.pool.query(`CREATE TABLE ${this.table} (
      position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      stream_id text NOT NULL,
      revision bigint NOT NULL CHECK (revision >= 0),
      event_id text NOT NULL UNIQUE,
      type text NOT NULL,
      data json NOT NULL,
      metadata json NOT NULL,
      UNIQUE (stream_id, revision))`);
    // For the variant with the read model: the configurations table as migrations/0002 makes it, and a checkpoint row.
    await this.pool.query(`CREATE TABLE ${this.table}_configs (LIKE ${this.table.split('.')[0]}.smtp_configs INCLUDING ALL)`);
    await this.pool.query(`CREATE TABLE ${this.table}_checkpoint (position bigint NOT NULL)`);
    await this.pool.query(`INSERT INTO ${this.table}_checkpoint VALUES (0)`);
  }

  /** `n` streams as SetUpInstance leaves them (instance.added, instance.domain.added), in one statement. */
  async prepare(n: number): Promise<string[]> {
    const from = this.streams + 1;
    this.streams += n;
    const firstEvent = this.events;
    this.events += 2 * n;
    await this.pool.query(
      `INSERT INTO ${this.table} (stream_id, revision, event_id, type, data, metadata)
       SELECT 'instance-' || k, r, 's' || ($3::bigint + 2 * (k - $1) + r), t.type, replace(t.data, '@', k::text)::json, replace($4, '@', k::text)::json
       FROM generate_series($1::bigint, $2::bigint) AS k,
            (VALUES (0, 'instance.added', '{"name":"instance@"}'),
                    (1, 'instance.domain.added', '{"domain":"instance@.example.com","generated":true}')) AS t(r, type, data)
       ORDER BY k, r`,
      [from, this.streams, firstEvent, METADATA('@', 'SYSTEM', 'setup-instance-@')],
    );
    return Array.from({ length: n }, (_, i) => `instance-${from + i}`);
  }

  /** Commands per second over `streams`, shared out to `connections` connections working in parallel. */
  async run(streams: readonly string[], connections: number, withReadModel = false): Promise<number> {
    const clients = await Promise.all(Array.from({ length: connections }, () => this.pool.connect()));
    let next = 0;
    const worker = async (client: pg.PoolClient) => {
      while (next < streams.length) {
        const streamId = streams[next++]!;
        const { rows } = await client.query<{ revision: string }>(
          `SELECT position, stream_id, revision, event_id, type, data, metadata FROM ${this.table} WHERE stream_id = $1 ORDER BY revision`,
          [streamId],
        );
        const revision = rows.length === 0 ? 0 : Number(rows.at(-1)!.revision) + 1;
        const instanceId = streamId.slice('instance-'.length);
        const values = [streamId, revision, `e${++this.events}`, 'instance.smtp.config.added', this.config, METADATA(instanceId, '69629023906488001', `add-smtp-${this.events}`)];
        if (!withReadModel) {
          await client.query(`INSERT INTO ${this.table} (stream_id, revision, event_id, type, data, metadata) VALUES ($1, $2, $3, $4, $5, $6)`, values);
        } else {
          // The same insert, and in its transaction (one statement, autocommitted) what any inline
          // projection must add: the configuration's row, the checkpoint, a notification.
          await client.query(
            `WITH ev AS (INSERT INTO ${this.table} (stream_id, revision, event_id, type, data, metadata) VALUES ($1, $2, $3, $4, $5, $6) RETURNING position),
                  cfg AS (INSERT INTO ${this.table}_configs (instance_id, id, sender_address, sender_name, tls, host, "user", reply_to_address, description,
                                                            has_password, sequence, creation_date, change_date, resource_owner)
                          VALUES ($7, $3, 'a@example.com', 'ZITADEL', true, 'smtp.example.com:587', 'user', '', '', true, $2 + 1, 'now', 'now', $7)),
                  cp AS (UPDATE ${this.table}_checkpoint SET position = (SELECT position FROM ev))
             SELECT pg_notify('${this.table.replace('.', '_')}', position::text) FROM ev`,
            [...values, instanceId],
          );
        }
      }
    };
    try {
      const start = performance.now();
      await Promise.all(clients.map(worker));
      return streams.length / ((performance.now() - start) / 1000);
    } finally {
      for (const c of clients) c.release();
    }
  }
}

/** Sets up `n` instances through the use case (in parallel, so they share commits) and waits for the projection. */
const newInstances = async (h: Harness, n: number): Promise<string[]> => {
  const ids: string[] = [];
  for (let done = 0; done < n; ) {
    const chunk = Math.min(64, n - done);
    ids.push(...(await Promise.all(Array.from({ length: chunk }, () => h.newInstance()))));
    done += chunk;
  }
  const head = await h.events.headPosition();
  if (head) await h.runner.waitFor(head, 60_000);
  return ids;
};

const addSmtpConfig = (h: Harness, instanceId: string) => h.addSmtpConfig.execute({ principal: owner(instanceId), instanceId, body: seedRequest });

/** `concurrency` workers, each starting its next command as soon as its last one answered. */
const endToEnd = async (h: Harness, targets: readonly string[], concurrency: number): Promise<number> => {
  let next = 0;
  const worker = async () => {
    while (next < targets.length) await addSmtpConfig(h, targets[next++]!);
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  return targets.length / ((performance.now() - start) / 1000);
};

export const runPostgresCommandBench = async (): Promise<PostgresCommandBenchResult> => {
  const commands = envNumber('BENCH_PG_COMMANDS', 500);
  const rounds = envNumber('BENCH_PG_ROUNDS', 5);
  const concurrency = envNumber('BENCH_PG_CONCURRENCY', 16);
  const poolSize = envNumber('BENCH_PG_POOL', 10);
  const V = {
    bare1: 'bare loop, 1 connection',
    bare8: 'bare loop, 8 connections',
    bareN: `bare loop, ${concurrency} connections`,
    floor1: 'bare loop with read model, 1 connection',
    floor8: 'bare loop with read model, 8 connections',
    e2e1: 'end to end, 1 at a time',
    e2eN: `end to end, ${concurrency} concurrent`,
  } as const;
  const variants = [...new Set(Object.values(V))];
  const label: Record<string, string> = {
    [V.bare1]: 'bare pg loop on 1 connection (SELECT stream, INSERT event autocommitted, per command)',
    [V.bare8]: 'bare pg loop on 8 connections',
    [V.bareN]: `bare pg loop on ${concurrency} connections`,
    [V.floor1]: 'bare pg loop with the read model in the insert\'s transaction (row, checkpoint, NOTIFY; reference), 1 connection',
    [V.floor8]: 'bare pg loop with the read model in the insert\'s transaction (reference), 8 connections',
    [V.e2e1]: `AddSmtpConfig end to end on PostgreSQL, one command at a time (pool of ${poolSize})`,
    [V.e2eN]: `AddSmtpConfig end to end on PostgreSQL, ${concurrency} concurrent commands on different instances (pool of ${poolSize})`,
  };

  console.log(
    `\nPostgreSQL commands: ${rounds} interleaved rounds of ${fmt(commands)} commands per variant (BENCH_PG_COMMANDS, BENCH_PG_ROUNDS, BENCH_PG_CONCURRENCY, BENCH_PG_POOL)`,
  );
  const db = await freshPostgresSchema(poolSize);
  const barePool = new pg.Pool({ connectionString: testDatabaseUrl, max: Math.max(8, concurrency) });
  let h: Harness | undefined;
  let events: PostgresEventStore | undefined;
  const results = new Map<string, number[]>(variants.map((v) => [v, []]));
  const diagnostics: string[] = [];
  try {
    events = await PostgresEventStore.open(db.pool, { schema: db.schema });
    const readModel = await PostgresProjectionStore.open(db.pool, { schema: db.schema });
    let projectionBatches = 0;
    const applyBatch = readModel.applyBatch.bind(readModel);
    readModel.applyBatch = (batch) => {
      projectionBatches++;
      return applyBatch(batch);
    };
    h = createHarness({ events, readModel });
    const harness = h;
    const bare = new BareLoop(barePool, `${db.schema}.bare_events`);
    await bare.create();
    const runVariant = async (variant: string, n: number): Promise<number> => {
      switch (variant) {
        case V.bare1:
          return bare.run(await bare.prepare(n), 1);
        case V.bare8:
          return bare.run(await bare.prepare(n), 8);
        case V.bareN:
          return bare.run(await bare.prepare(n), concurrency);
        case V.floor1:
          return bare.run(await bare.prepare(n), 1, true);
        case V.floor8:
          return bare.run(await bare.prepare(n), 8, true);
        case V.e2e1:
          return endToEnd(harness, await newInstances(harness, n), 1);
        case V.e2eN:
          return endToEnd(harness, await newInstances(harness, n), concurrency);
        default:
          throw new Error(variant);
      }
    };
    for (const variant of variants) await runVariant(variant, Math.min(commands, 200)); // warm-up
    for (let r = 0; r < rounds; r++) {
      const order = variants.map((_, i) => variants[(i + r) % variants.length]!);
      const line: string[] = [];
      for (const variant of order) {
        const perSecond = await runVariant(variant, commands);
        results.get(variant)!.push(perSecond);
        line.push(`${variant} ${fmt(perSecond)}`);
      }
      console.log(`  round ${r + 1}: ${line.join(', ')} commands/s`);
    }

    // Diagnostic pass: round trips per command by kind of statement (with the profiler on; not a measurement of speed).
    const profiler = new StatementProfiler(db.schema);
    for (const [variant, n, c] of [
      [V.e2e1, 200, 1],
      [V.e2eN, 400, concurrency],
    ] as const) {
      const targets = await newInstances(harness, n);
      profiler.reset();
      profiler.start();
      const batchesBefore = projectionBatches;
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      await endToEnd(harness, targets, c);
      const ms = performance.now() - t0;
      const cpu = process.cpuUsage(cpu0);
      profiler.stop();
      diagnostics.push(
        `${variant} (${n} commands, ${fmt(ms / n, 2)} ms per command with the profiler on, this process's CPU ${fmt((cpu.user + cpu.system) / 1000 / n, 2)} ms per command, ` +
          `${projectionBatches - batchesBefore} read-model transactions of the projection runner's own; the rest went inline with their appends):`,
        ...profiler.report(n, 'command').map((l) => `    ${l}`),
      );
    }
    {
      const streams = await bare.prepare(200);
      profiler.reset();
      profiler.start();
      const cpu0 = process.cpuUsage();
      await bare.run(streams, 1);
      const cpu = process.cpuUsage(cpu0);
      profiler.stop();
      diagnostics.push(`${V.bare1} (200 commands, this process's CPU ${fmt((cpu.user + cpu.system) / 1000 / 200, 2)} ms per command):`, ...profiler.report(200, 'command').map((l) => `    ${l}`));
    }
  } finally {
    await h?.close();
    await events?.close();
    await barePool.end();
    await db.drop();
  }

  const med = Object.fromEntries(variants.map((v) => [v, median(results.get(v)!)])) as Record<string, number>;
  for (const v of variants) {
    const xs = results.get(v)!;
    console.log(`${label[v]}: ${fmt(med[v]!)} commands/s (median; min ${fmt(Math.min(...xs))}, max ${fmt(Math.max(...xs))})`);
  }
  console.log('Where a command\'s round trips go (diagnostic pass, profiler on):');
  for (const l of diagnostics) console.log(`  ${l}`);
  const paired = (a: string, b: string) => median(results.get(a)!.map((x, i) => x / results.get(b)![i]!));
  const sequentialOverBare1 = med[V.e2e1]! / med[V.bare1]!;
  const concurrentOverBare8 = med[V.e2eN]! / med[V.bare8]!;
  console.log(`ratio bare ${concurrency} connections / bare 1 connection: ${(med[V.bareN]! / med[V.bare1]!).toFixed(2)}; bare 8 / bare 1: ${(med[V.bare8]! / med[V.bare1]!).toFixed(2)}`);
  console.log(`ratio end to end ${concurrency} concurrent / bare ${concurrency} connections: ${(med[V.e2eN]! / med[V.bareN]!).toFixed(2)}`);
  console.log(
    `reference: bare loop with the read model / bare loop: ${(med[V.floor1]! / med[V.bare1]!).toFixed(2)} on 1 connection, ${(med[V.floor8]! / med[V.bare8]!).toFixed(2)} on 8 ` +
      `(the most an inline read model can reach against the goal's baseline); end to end against it: ${(med[V.e2e1]! / med[V.floor1]!).toFixed(2)} one at a time, ` +
      `${(med[V.e2eN]! / med[V.floor8]!).toFixed(2)} ${concurrency} concurrent`,
  );
  const sequentialGoalMet = sequentialOverBare1 >= 0.8;
  const concurrentGoalMet = concurrentOverBare8 >= 0.8;
  console.log(
    `ratio end to end 1 at a time / bare 1 connection: ${sequentialOverBare1.toFixed(2)} (within rounds: ${paired(V.e2e1, V.bare1).toFixed(2)}) — goal ≥ 0.80: ${sequentialGoalMet ? 'MET' : 'NOT MET'}`,
  );
  console.log(
    `ratio end to end ${concurrency} concurrent / bare 8 connections: ${concurrentOverBare8.toFixed(2)} (within rounds: ${paired(V.e2eN, V.bare8).toFixed(2)}) — goal ≥ 0.80: ${concurrentGoalMet ? 'MET' : 'NOT MET'}`,
  );
  return { commandsPerSecond: med, sequentialOverBare1, concurrentOverBare8, sequentialGoalMet, concurrentGoalMet };
};
