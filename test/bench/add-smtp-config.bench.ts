// npm run bench — runs, in sequence:
//  1. in-memory.bench.ts: AddSmtpConfig commands per second on the in-memory store with 1 000 and
//     with 100 000 other instances in it, and their ratio;
//  2. sqlite-commands.bench.ts: AddSmtpConfig end to end on SQLite (sequential, and 32 concurrent
//     commands) against a bare better-sqlite3 loop with synchronous=FULL; goal: 32 concurrent ≥ 2×
//     the bare loop (group commit);
//  3. server-start.bench.ts: the real server's time to ready and RSS on stores of 10 000 and
//     100 000 instances against an empty data directory; goal at 100 000: < 1 s and < 250 MB;
//  4. postgres.bench.ts: AddSmtpConfig end to end on PostgreSQL (1 at a time, 16 concurrent) against
//     a bare node-postgres loop (1, 8, 16 connections), goal ≥ 0.8× the bare loop (1 vs 1
//     connection, 16 concurrent vs 8 connections); and replay of 1 000 000 events into the
//     PostgreSQL read model, goal ≥ 50 000 events/s. Skipped, saying why, without PostgreSQL.
//  5. perf.bench.ts (issue 14): the in-memory command path against a hand-written loop and Emmett
//     at 1 000 to 1 000 000 instances, heap per instance, and HTTP against a reference route doing
//     the irreducible work (and SQLite against in memory), p50/p99 at 16 connections.
// Every goal is judged from figures measured in the same run, rounds interleaved, medians reported.
//  6. replay.bench.ts (issue 12): 1 000 000 events through the projection into the in-memory (goal
//     ≥ 500 000 events/s) and SQLite (goal ≥ 100 000 events/s) read models against a bare decode
//     loop into a Map; export and import throughput between SQLite stores.
// BENCH_PARTS=memory,sqlite,start,postgres,perf,replay (default: all) chooses the parts; each part's file names the
// variables that size it.
import { runInMemoryBench } from './in-memory.bench.js';
import { runServerStartBench } from './server-start.bench.js';
import { runSqliteCommandBench } from './sqlite-commands.bench.js';

const PARTS = ['memory', 'sqlite', 'start', 'postgres', 'perf', 'replay'] as const;
const wanted = new Set((process.env.BENCH_PARTS ?? PARTS.join(',')).split(',').map((p) => p.trim()));
for (const p of wanted) if (!(PARTS as readonly string[]).includes(p)) throw new Error(`BENCH_PARTS: unknown part ${p} (expected ${PARTS.join(', ')})`);

const summary: string[] = [];
if (wanted.has('memory')) {
  const { ratio } = await runInMemoryBench();
  summary.push(`in-memory, 100 000 / 1 000 other instances: ${ratio.toFixed(2)}`);
}
if (wanted.has('sqlite')) {
  const r = await runSqliteCommandBench();
  summary.push(`SQLite, 32 concurrent end to end / bare FULL loop: ${r.concurrentOverBareFull.toFixed(2)} (goal ≥ 2): ${r.goalMet ? 'MET' : 'NOT MET'}`);
}
if (wanted.has('start')) {
  const r = await runServerStartBench();
  for (const [server, met] of r.goalMet) summary.push(`server start on the largest store, ${server}: ${met ? 'MET' : 'NOT MET'}`);
}
if (wanted.has('replay')) {
  const { runReplayBench } = await import('./replay.bench.js');
  const r = await runReplayBench();
  summary.push(
    `replay into the in-memory read model / bare decode loop: ${(r.memory / r.bare).toFixed(2)}; ${Math.round(r.memory)} events/s (goal ≥ 500 000): ${r.memoryGoalMet ? 'MET' : 'NOT MET'}`,
    `replay into the SQLite read model / bare decode loop: ${(r.sqlite / r.bare).toFixed(2)}; ${Math.round(r.sqlite)} events/s (goal ≥ 100 000): ${r.sqliteGoalMet ? 'MET' : 'NOT MET'}`,
    `export ${Math.round(r.exportRate)} events/s, import ${Math.round(r.importRate)} events/s (SQLite to SQLite)`,
  );
}
if (wanted.has('postgres')) {
  // Loaded only when wanted: it loads the test adapters, which look for PostgreSQL as they load.
  const { runPostgresBench } = await import('./postgres.bench.js');
  const r = await runPostgresBench();
  if (r.skipped) summary.push(`PostgreSQL: skipped (${r.skipped})`);
  if (r.commands) {
    summary.push(
      `PostgreSQL, end to end 1 at a time / bare loop 1 connection: ${r.commands.sequentialOverBare1.toFixed(2)} (goal ≥ 0.8): ${r.commands.sequentialGoalMet ? 'MET' : 'NOT MET'}`,
      `PostgreSQL, end to end 16 concurrent / bare loop 8 connections: ${r.commands.concurrentOverBare8.toFixed(2)} (goal ≥ 0.8): ${r.commands.concurrentGoalMet ? 'MET' : 'NOT MET'}`,
    );
  }
  if (r.replay) {
    const rate = r.replay.eventsPerSecond['catch-up into PostgresProjectionStore'] ?? 0;
    summary.push(`PostgreSQL, replay of ${r.replay.events.toLocaleString('en')} events into the read model: ${Math.round(rate).toLocaleString('en')} events/s (goal ≥ 50,000): ${r.replay.goalMet ? 'MET' : 'NOT MET'}`);
  }
}
if (wanted.has('perf')) {
  const { runPerfBench, perfSummary } = await import('./perf.bench.js');
  summary.push(...perfSummary(await runPerfBench()));
}
console.log(`\nSummary:\n${summary.map((s) => `  ${s}`).join('\n')}`);
