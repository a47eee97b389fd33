// AddSmtpConfig on the embedded SQLite store, end to end (the use case on SqliteEventStore and
// SqliteProjectionStore in a temporary DATA_DIR, wired like test/support/fixtures.ts, the events
// made durable as the server makes them: the log flushed on the thread pool after each commit), run
// (a) one command after another and (b) with BENCH_CONCURRENCY (32) commands in flight on
// different instances, against (c) a bare better-sqlite3 loop doing per command what the store
// must do at least: one SELECT of the stream's events and one INSERT of an event row, in a
// transaction of its own (WAL, synchronous=FULL: one fsync per command). The same loop with
// synchronous=NORMAL (no fsync at commit) is printed as a reference.
//
// The goal is a ratio measured in the same run: 32 concurrent commands end to end at least twice
// the bare FULL loop, thanks to group commit (appends that reach the store in one turn of the event
// loop share one transaction and one fsync). Rounds interleave the four variants, in a rotating
// order, and the median round counts: the machine is shared and noisy. Each command's instance is
// set up (SetUpInstanceUseCase) and projected before the timed part.
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { SqliteEventStore, SqliteProjectionStore } from '../support/everything.js';
import { createHarness, owner, seedRequest, type Harness } from '../support/fixtures.js';
import { envNumber, fmt, median, tempDir } from './bench-util.js';

const VARIANTS = ['bare loop, synchronous=FULL', 'bare loop, synchronous=NORMAL', 'end to end, sequential', 'end to end, concurrent'] as const;
type Variant = (typeof VARIANTS)[number];

export interface SqliteCommandBenchResult {
  /** Median commands per second of each variant. */
  readonly commandsPerSecond: Readonly<Record<Variant, number>>;
  readonly concurrentOverBareFull: number;
  readonly goalMet: boolean;
}

/** What one command writes and reads in the bare loop: rows of the sizes the use cases write. */
const sampleRow = (instanceId: string, type: string, data: unknown) => ({
  type,
  data: JSON.stringify(data),
  metadata: JSON.stringify({
    instanceId,
    editorUserId: '69629023906488001',
    createdAt: '2024-06-11T10:37:15.680Z',
    correlationId: 'add-smtp-69629023906488334',
    causationId: 'add-smtp-69629023906488334',
    schemaVersion: 1,
  }),
});

/** A bare events table like migrations/0001-events.ts, with the loop's prepared statements. */
class BareLoop {
  private readonly db: Database.Database;
  private readonly select;
  private readonly insert;
  private readonly command: (streamId: string, eventId: string) => void;
  private streams = 0;
  private events = 0;

  constructor(file: string, synchronous: 'FULL' | 'NORMAL') {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${synchronous}`);
    this.db.exec(`CREATE TABLE events (
      position INTEGER PRIMARY KEY AUTOINCREMENT,
      stream_id TEXT NOT NULL,
      revision INTEGER NOT NULL CHECK (revision >= 0),
      event_id TEXT NOT NULL UNIQUE,
      type TEXT NOT NULL,
      data TEXT NOT NULL,
      metadata TEXT NOT NULL,
      UNIQUE (stream_id, revision)
    ) STRICT`);
    this.select = this.db.prepare<[string], { revision: number; type: string; data: string; metadata: string }>(
      'SELECT position, stream_id, revision, event_id, type, data, metadata FROM events WHERE stream_id = ? ORDER BY revision',
    );
    this.insert = this.db.prepare<[string, number, string, string, string, string]>(
      'INSERT INTO events (stream_id, revision, event_id, type, data, metadata) VALUES (?, ?, ?, ?, ?, ?)',
    );
    const config = sampleRow('0', 'instance.smtp.config.added', {
      id: '69629023906488335',
      ...seedRequest,
      password: { cryptoType: 'encryption', algorithm: 'AES-256-GCM', keyId: 'key-2026-11', crypted: 'x'.repeat(64) },
    });
    const transaction = this.db.transaction((streamId: string, eventId: string) => {
      const rows = this.select.all(streamId);
      const revision = rows.length === 0 ? 0 : rows.at(-1)!.revision + 1;
      this.insert.run(streamId, revision, eventId, config.type, config.data, config.metadata);
    });
    this.command = (streamId, eventId) => transaction.immediate(streamId, eventId);
  }

  /** `n` streams as SetUpInstance leaves them (instance.added, instance.domain.added), in one transaction. */
  prepare(n: number): string[] {
    const ids: string[] = [];
    this.db.transaction(() => {
      for (let i = 0; i < n; i++) {
        const instanceId = String(++this.streams);
        const streamId = `instance-${instanceId}`;
        const added = sampleRow(instanceId, 'instance.added', { name: `instance${instanceId}` });
        const domain = sampleRow(instanceId, 'instance.domain.added', { domain: `instance${instanceId}.example.com`, generated: true });
        this.insert.run(streamId, 0, `e${++this.events}`, added.type, added.data, added.metadata);
        this.insert.run(streamId, 1, `e${++this.events}`, domain.type, domain.data, domain.metadata);
        ids.push(streamId);
      }
    })();
    return ids;
  }

  /** Commands per second over the given streams, one transaction (one commit) each. */
  run(streams: readonly string[]): number {
    const start = performance.now();
    for (const streamId of streams) this.command(streamId, `e${++this.events}`);
    return streams.length / ((performance.now() - start) / 1000);
  }

  close(): void {
    this.db.close();
  }
}

/**
 * Diagnostics, not measurements: how many commands shared each event-store transaction (its
 * `transactions` counter: one fsync each) and how many events each read-model transaction applied.
 */
const counters = { projectionBatches: 0, projected: 0 };
let eventStore: SqliteEventStore | undefined;
type Counters = typeof counters & { commits: number };
const snapshot = (): Counters => ({ ...counters, commits: eventStore?.transactions ?? 0 });
const watchProjection = (readModel: SqliteProjectionStore): void => {
  const applyBatch = readModel.applyBatch.bind(readModel);
  readModel.applyBatch = (batch) => {
    counters.projectionBatches++;
    counters.projected += batch.length;
    return applyBatch(batch);
  };
};
const since = (before: Counters, commands: number) => ({
  appendsPerCommit: commands / Math.max(1, (eventStore?.transactions ?? 0) - before.commits),
  eventsPerProjectionBatch: (counters.projected - before.projected) / Math.max(1, counters.projectionBatches - before.projectionBatches),
});
const diagnostics = new Map<string, ReturnType<typeof since>[]>();
const note = (variant: string, before: Counters, commands: number) => {
  const d = since(before, commands);
  diagnostics.set(variant, [...(diagnostics.get(variant) ?? []), d]);
};

/** Sets up `n` instances through the use case (in parallel, so they share commits) and waits for the projection. */
const newInstances = async (h: Harness, n: number): Promise<string[]> => {
  const ids: string[] = [];
  for (let done = 0; done < n; ) {
    const chunk = Math.min(256, n - done);
    ids.push(...(await Promise.all(Array.from({ length: chunk }, () => h.newInstance()))));
    done += chunk;
  }
  const head = await h.events.headPosition();
  if (head) await h.runner.waitFor(head, 60_000);
  return ids;
};

const addSmtpConfig = (h: Harness, instanceId: string) => h.addSmtpConfig.execute({ principal: owner(instanceId), instanceId, body: seedRequest });

const sequential = async (h: Harness, targets: readonly string[]): Promise<number> => {
  const before = snapshot();
  const start = performance.now();
  for (const instanceId of targets) await addSmtpConfig(h, instanceId);
  const perSecond = targets.length / ((performance.now() - start) / 1000);
  note('end to end, sequential', before, targets.length);
  return perSecond;
};

/** `concurrency` workers, each starting its next command as soon as its last one answered. */
const concurrent = async (h: Harness, targets: readonly string[], concurrency: number): Promise<number> => {
  let next = 0;
  const worker = async () => {
    while (next < targets.length) await addSmtpConfig(h, targets[next++]!);
  };
  const before = snapshot();
  const start = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const perSecond = targets.length / ((performance.now() - start) / 1000);
  note('end to end, concurrent', before, targets.length);
  return perSecond;
};

export const runSqliteCommandBench = async (): Promise<SqliteCommandBenchResult> => {
  const commands = envNumber('BENCH_SQLITE_COMMANDS', 1_000);
  const rounds = envNumber('BENCH_SQLITE_ROUNDS', 9);
  const concurrency = envNumber('BENCH_CONCURRENCY', 32);
  const label: Record<Variant, string> = {
    'bare loop, synchronous=FULL': 'bare better-sqlite3 loop, WAL, synchronous=FULL (SELECT + INSERT, commit per command)',
    'bare loop, synchronous=NORMAL': 'bare better-sqlite3 loop, WAL, synchronous=NORMAL (reference: no fsync at commit)',
    'end to end, sequential': 'AddSmtpConfig end to end on SQLite, one command at a time',
    'end to end, concurrent': `AddSmtpConfig end to end on SQLite, ${concurrency} concurrent commands on different instances`,
  };

  console.log(`\nSQLite: ${rounds} interleaved rounds of ${fmt(commands)} commands per variant (BENCH_SQLITE_COMMANDS, BENCH_SQLITE_ROUNDS, BENCH_CONCURRENCY)`);
  const e2eDir = tempDir('e2e');
  const bareDir = tempDir('bare');
  const readModel = SqliteProjectionStore.open(e2eDir.dir);
  watchProjection(readModel);
  eventStore = SqliteEventStore.open(e2eDir.dir, { durability: 'thread-pool' });
  const h = createHarness({ events: eventStore, readModel });
  const bare = { FULL: new BareLoop(join(bareDir.dir, 'full.db'), 'FULL'), NORMAL: new BareLoop(join(bareDir.dir, 'normal.db'), 'NORMAL') };
  const results = new Map<Variant, number[]>(VARIANTS.map((v) => [v, []]));
  const runVariant = async (variant: Variant, n: number): Promise<number> => {
    switch (variant) {
      case 'bare loop, synchronous=FULL':
        return bare.FULL.run(bare.FULL.prepare(n));
      case 'bare loop, synchronous=NORMAL':
        return bare.NORMAL.run(bare.NORMAL.prepare(n));
      case 'end to end, sequential':
        return sequential(h, await newInstances(h, n));
      case 'end to end, concurrent':
        return concurrent(h, await newInstances(h, n), concurrency);
    }
  };
  try {
    for (const variant of VARIANTS) await runVariant(variant, Math.min(commands, 500)); // warm-up
    diagnostics.clear();
    for (let r = 0; r < rounds; r++) {
      const order = VARIANTS.map((_, i) => VARIANTS[(i + r) % VARIANTS.length]!);
      const line: string[] = [];
      for (const variant of order) {
        const perSecond = await runVariant(variant, commands);
        results.get(variant)!.push(perSecond);
        line.push(`${variant} ${fmt(perSecond)}`);
      }
      console.log(`  round ${r + 1}: ${line.join(', ')} commands/s`);
    }
  } finally {
    await h.close();
    await readModel.close();
    bare.FULL.close();
    bare.NORMAL.close();
    e2eDir.remove();
    bareDir.remove();
  }

  const med = Object.fromEntries(VARIANTS.map((v) => [v, median(results.get(v)!)])) as Record<Variant, number>;
  for (const v of VARIANTS) {
    const xs = results.get(v)!;
    console.log(`${label[v]}: ${fmt(med[v])} commands/s (median; min ${fmt(Math.min(...xs))}, max ${fmt(Math.max(...xs))})`);
  }
  for (const [variant, ds] of diagnostics) {
    console.log(`  (${variant}: ${median(ds.map((d) => d.appendsPerCommit)).toFixed(1)} commands per event-store transaction, ${median(ds.map((d) => d.eventsPerProjectionBatch)).toFixed(1)} events per read-model transaction)`);
  }
  const full = med['bare loop, synchronous=FULL'];
  const ratio = med['end to end, concurrent'] / full;
  console.log(`ratio end to end sequential / bare FULL loop: ${(med['end to end, sequential'] / full).toFixed(2)}`);
  console.log(`ratio end to end ${concurrency} concurrent / end to end sequential: ${(med['end to end, concurrent'] / med['end to end, sequential']).toFixed(2)}`);
  console.log(`ratio bare NORMAL / bare FULL loop (what an fsync per commit costs): ${(med['bare loop, synchronous=NORMAL'] / full).toFixed(2)}`);
  const paired = median(results.get('end to end, concurrent')!.map((c, i) => c / results.get('bare loop, synchronous=FULL')![i]!));
  console.log(`  (the same ratio taken within each round, median of rounds: ${paired.toFixed(2)})`);
  const goalMet = ratio >= 2;
  console.log(
    `ratio end to end ${concurrency} concurrent / bare FULL loop: ${ratio.toFixed(2)} — goal ≥ 2.00 (group commit): ${goalMet ? 'MET' : 'NOT MET'}`,
  );
  return { commandsPerSecond: med, concurrentOverBareFull: ratio, goalMet };
};
