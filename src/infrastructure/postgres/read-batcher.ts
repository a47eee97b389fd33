/**
 * Reads of one kind that arrive while earlier ones are in flight are answered together by the next
 * query (DataLoader-style batching): under concurrency a read costs a fraction of a round trip,
 * and alone it goes out at once, with no added wait. Each caller's answer comes from a query that
 * started after its call, so a read never sees less than what was committed before it was made.
 *
 * Callers whose reads share a query must not share its failure when only one key caused it: a
 * batch that fails with an error `retryAlone` says is about the keys (not the database) is read
 * again key by key, and each caller gets its own key's answer.
 */
export class ReadBatcher<K, V> {
  private queue: { key: K; resolve: (v: V) => void; reject: (e: unknown) => void }[] = [];
  private inFlight = 0;

  constructor(
    /** Answers each key, in the order given. */
    private readonly load: (keys: readonly K[]) => Promise<readonly V[]>,
    private readonly maxInFlight = 2,
    private readonly maxBatch = 500,
    /** Whether a batch's failure may be one key's doing, so that reading the keys alone is worth it. */
    private readonly retryAlone: (error: unknown) => boolean = () => false,
  ) {}

  get(key: K): Promise<V> {
    return new Promise<V>((resolve, reject) => {
      this.queue.push({ key, resolve, reject });
      if (this.inFlight < this.maxInFlight) this.next();
    });
  }

  private loadSafely(keys: readonly K[]): Promise<readonly V[]> {
    try {
      return this.load(keys);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  private next(): void {
    const batch = this.queue.splice(0, this.maxBatch);
    if (batch.length === 0) return;
    this.inFlight++;
    this.loadSafely(batch.map((b) => b.key))
      .then<void, void>(
        (values) => batch.forEach((b, i) => b.resolve(values[i]!)),
        (error: unknown) => {
          if (batch.length === 1 || !this.retryAlone(error)) return batch.forEach((b) => b.reject(error));
          return Promise.all(
            batch.map((b) =>
              this.loadSafely([b.key]).then(
                (values) => b.resolve(values[0]!),
                (own: unknown) => b.reject(own),
              ),
            ),
          ).then(() => undefined);
        },
      )
      .finally(() => {
        this.inFlight--;
        this.next();
      });
  }
}
