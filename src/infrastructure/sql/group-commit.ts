export type Outcome<Result> = { ok: Result } | { error: unknown };

/**
 * Group commit: requests that arrive while the event loop is busy, or while the previous batch is
 * being written, are written together in the next transaction, and so share one fsync. `commit`
 * answers each request on its own (one request's conflict never fails another); if it throws, the
 * whole batch failed and every request in it gets that error. `commit` may be synchronous (SQLite
 * with synchronous=FULL) or asynchronous (PostgreSQL, and SQLite flushing on the thread pool:
 * requests that arrive during the flush make the next batch); batches never overlap.
 */
export class GroupCommit<Request, Result> {
  private queue: { request: Request; resolve: (r: Result) => void; reject: (e: unknown) => void }[] = [];
  private scheduled = false;
  private running = false;

  constructor(
    private readonly commit: (requests: readonly Request[]) => readonly Outcome<Result>[] | Promise<readonly Outcome<Result>[]>,
    private readonly maxBatch = 1_000,
  ) {}

  submit(request: Request): Promise<Result> {
    return new Promise((resolve, reject) => {
      this.queue.push({ request, resolve, reject });
      if (!this.scheduled && !this.running) {
        this.scheduled = true;
        // After the I/O callbacks and microtasks now ready: every command that reaches its append
        // in this turn of the event loop joins the batch.
        setImmediate(() => void this.drain());
      }
    });
  }

  private async drain(): Promise<void> {
    this.scheduled = false;
    this.running = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.maxBatch);
        let outcomes: readonly Outcome<Result>[];
        try {
          outcomes = await this.commit(batch.map((b) => b.request));
        } catch (error) {
          for (const b of batch) b.reject(error);
          continue;
        }
        batch.forEach((b, i) => {
          const outcome = outcomes[i]!;
          if ('ok' in outcome) b.resolve(outcome.ok);
          else b.reject(outcome.error);
        });
      }
    } finally {
      this.running = false;
    }
  }
}
