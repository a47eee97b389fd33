// Helpers of the PostgreSQL benchmarks: whether the server is reachable, and a statement profiler
// (round trips and time per kind of statement) for the diagnostic passes.
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { fmt } from './bench-util.js';

/**
 * The database the PostgreSQL benchmarks use: test/support/adapters.ts's testDatabaseUrl, worked out
 * the same way here so that the server can be looked for before the adapters are loaded (they throw
 * on CI when it is missing).
 */
export const benchDatabaseUrl = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** The database URL without credentials, for printing. */
export const printableUrl = benchDatabaseUrl.replace(/\/\/[^@]*@/, '//');

/** Why the PostgreSQL benchmarks cannot run (the server is unreachable), or undefined when they can. */
export const postgresUnavailable = async (): Promise<string | undefined> => {
  const client = new pg.Client({ connectionString: benchDatabaseUrl, connectionTimeoutMillis: 3_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return undefined;
  } catch (error) {
    const message = error instanceof Error ? error.message || String((error as NodeJS.ErrnoException).code) : String(error);
    return `PostgreSQL at ${printableUrl} is not reachable (${message}); set TEST_DATABASE_URL or start it (see README)`;
  } finally {
    await client.end().catch(() => undefined);
  }
};

interface KindStats {
  count: number;
  ms: number;
}

/**
 * Counts every statement sent through node-postgres (pool.query and client.query alike) by kind,
 * with the time from sending it to its answer. Installed only around diagnostic passes: it patches
 * pg.Client.prototype.query for the whole process while it is on.
 */
export class StatementProfiler {
  private readonly kinds = new Map<string, KindStats>();
  private original: typeof pg.Client.prototype.query | undefined;

  constructor(private readonly schema: string) {}

  private kind(text: string): string {
    const flat = text.replaceAll(`${this.schema}.`, '').replace(/\s+/g, ' ').trim();
    if (/append_to_stream/.test(flat)) return 'append_to_stream(...)';
    if (/^SELECT pg_notify/.test(flat)) return 'SELECT pg_notify(...)';
    if (/FROM events WHERE position >/.test(flat)) return 'SELECT events page (position > $1 LIMIT $2)';
    if (/FROM events WHERE stream_id =/.test(flat)) return 'SELECT stream events (readStream)';
    if (/^INSERT INTO projection_checkpoints/.test(flat)) return 'INSERT checkpoint row ON CONFLICT DO NOTHING';
    if (/FROM projection_checkpoints .* FOR UPDATE/.test(flat)) return 'SELECT checkpoint FOR UPDATE';
    if (/^UPDATE projection_checkpoints/.test(flat)) return 'UPDATE checkpoint';
    if (/FROM projection_checkpoints/.test(flat)) return 'SELECT checkpoint';
    return flat.length > 70 ? `${flat.slice(0, 70)}…` : flat;
  }

  start(): this {
    if (this.original) return this;
    const original = pg.Client.prototype.query;
    this.original = original;
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const profiler = this;
    const patched = function (this: pg.Client, ...args: unknown[]): unknown {
      const first = args[0] as string | { text?: string } | undefined;
      const text = typeof first === 'string' ? first : (first?.text ?? '?');
      const kind = profiler.kind(text);
      const t0 = performance.now();
      const done = () => {
        const s = profiler.kinds.get(kind) ?? { count: 0, ms: 0 };
        s.count++;
        s.ms += performance.now() - t0;
        profiler.kinds.set(kind, s);
      };
      const cb = args.findIndex((a) => typeof a === 'function');
      if (cb >= 0) {
        const callback = args[cb] as (...a: unknown[]) => void;
        args[cb] = (...a: unknown[]) => {
          done();
          callback(...a);
        };
        return (original as (...a: unknown[]) => unknown).apply(this, args);
      }
      const result = (original as (...a: unknown[]) => unknown).apply(this, args);
      if (result && typeof (result as Promise<unknown>).then === 'function') (result as Promise<unknown>).then(done, done);
      return result;
    };
    pg.Client.prototype.query = patched as unknown as typeof pg.Client.prototype.query;
    return this;
  }

  stop(): void {
    if (this.original) pg.Client.prototype.query = this.original;
    this.original = undefined;
  }

  reset(): void {
    this.kinds.clear();
  }

  /** Lines "kind: n per unit, mean ms, share of the statements' time", most expensive first. */
  report(units: number, unitName: string): string[] {
    const total = [...this.kinds.values()].reduce((a, s) => a + s.ms, 0);
    const count = [...this.kinds.values()].reduce((a, s) => a + s.count, 0);
    const lines = [...this.kinds.entries()]
      .sort(([, a], [, b]) => b.ms - a.ms)
      .map(
        ([kind, s]) =>
          `${kind}: ${fmt(s.count / units, 3)} per ${unitName}, mean ${fmt(s.ms / s.count, 3)} ms, ${fmt((100 * s.ms) / Math.max(total, 1e-9), 0)}% of statement time`,
      );
    lines.push(`all statements: ${fmt(count / units, 2)} round trips per ${unitName}, ${fmt(total / units, 3)} ms of statement time per ${unitName}`);
    return lines;
  }
}
