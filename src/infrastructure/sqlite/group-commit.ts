/**
 * Group commit: requests that arrive while the event loop is busy are written together, in one
 * transaction and so one fsync. `commit` runs synchronously and answers each request on its own
 * (one request's conflict never fails another); if it throws, the whole batch failed and every
 * request in it gets that error.
 */
export class GroupCommit<Request, Result> {
  private queue: { request: Request; resolve: (r: Result) => void; reject: (e: unknown) => void }[] = [];
  private scheduled = false;

  constructor(
    private readonly commit: (requests: readonly Request[]) => readonly ({ ok: Result } | { error: unknown })[],
    private readonly maxBatch = 1_000,
  ) {}

  submit(request: Request): Promise<Result> {
    return new Promise((resolve, reject) => {
      this.queue.push({ request, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        // After the I/O callbacks and microtasks now ready: every command that reaches its append
        // in this turn of the event loop joins the batch.
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    const batch = this.queue.splice(0, this.maxBatch);
    if (this.queue.length > 0) setImmediate(() => this.flush());
    else this.scheduled = false;
    let outcomes: readonly ({ ok: Result } | { error: unknown })[];
    try {
      outcomes = this.commit(batch.map((b) => b.request));
    } catch (error) {
      for (const b of batch) b.reject(error);
      return;
    }
    batch.forEach((b, i) => {
      const outcome = outcomes[i]!;
      if ('ok' in outcome) b.resolve(outcome.ok);
      else b.reject(outcome.error);
    });
  }
}
