// The PostgreSQL part of npm run bench: AddSmtpConfig end to end against a bare node-postgres loop
// (postgres-commands.bench.ts) and replay of BENCH_REPLAY_EVENTS events into the PostgreSQL read
// model (postgres-replay.bench.ts), each in a fresh schema on TEST_DATABASE_URL (default
// postgres://postgres@127.0.0.1:5432/test) that is dropped at the end. When PostgreSQL is not
// reachable the part says why and is skipped. BENCH_PG=commands,replay (default both) chooses
// within the part. The load average is printed before and after: the goals are ratios except the
// replay's, which is an absolute rate and so depends on what else the machine is doing.
import { loadavg } from 'node:os';
import { postgresUnavailable, printableUrl } from './pg-bench-util.js';
import type { PostgresCommandBenchResult } from './postgres-commands.bench.js';
import type { PostgresReplayBenchResult } from './postgres-replay.bench.js';

export interface PostgresBenchResult {
  readonly skipped?: string;
  readonly commands?: PostgresCommandBenchResult;
  readonly replay?: PostgresReplayBenchResult;
}

const load = () => loadavg().map((l) => l.toFixed(1)).join(', ');

export const runPostgresBench = async (): Promise<PostgresBenchResult> => {
  const skipped = await postgresUnavailable();
  if (skipped) {
    console.log(`\nPostgreSQL part skipped: ${skipped}.`);
    return { skipped };
  }
  const SUB = ['commands', 'replay'];
  const wanted = new Set((process.env.BENCH_PG ?? SUB.join(',')).split(',').map((p) => p.trim()));
  for (const p of wanted) if (!SUB.includes(p)) throw new Error(`BENCH_PG: unknown part ${p} (expected ${SUB.join(', ')})`);
  console.log(`\nPostgreSQL at ${printableUrl}; load average before: ${load()}`);
  // Loaded after the server was found: they use test/support/adapters.ts (freshPostgresSchema).
  const { runPostgresCommandBench } = await import('./postgres-commands.bench.js');
  const { runPostgresReplayBench } = await import('./postgres-replay.bench.js');
  const commands = wanted.has('commands') ? await runPostgresCommandBench() : undefined;
  const replay = wanted.has('replay') ? await runPostgresReplayBench() : undefined;
  console.log(`PostgreSQL part done; load average after: ${load()}`);
  return { ...(commands ? { commands } : {}), ...(replay ? { replay } : {}) };
};
