// npm run bench — runs, in sequence:
//  1. in-memory.bench.ts: AddSmtpConfig commands per second on the in-memory store with 1 000 and
//     with 100 000 other instances in it, and their ratio;
//  2. sqlite-commands.bench.ts: AddSmtpConfig end to end on SQLite (sequential, and 32 concurrent
//     commands) against a bare better-sqlite3 loop with synchronous=FULL; goal: 32 concurrent ≥ 2×
//     the bare loop (group commit);
//  3. server-start.bench.ts: the real server's time to ready and RSS on stores of 10 000 and
//     100 000 instances against an empty data directory; goal at 100 000: < 1 s and < 250 MB.
// Every goal is judged from figures measured in the same run, rounds interleaved, medians reported.
// BENCH_PARTS=memory,sqlite,start (default: all) chooses the parts; each part's file names the
// variables that size it.
import { runInMemoryBench } from './in-memory.bench.js';
import { runServerStartBench } from './server-start.bench.js';
import { runSqliteCommandBench } from './sqlite-commands.bench.js';

const PARTS = ['memory', 'sqlite', 'start'] as const;
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
console.log(`\nSummary:\n${summary.map((s) => `  ${s}`).join('\n')}`);
