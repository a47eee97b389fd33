/**
 * Reads of one kind that arrive while earlier ones are in flight are answered together by the next
 * query (DataLoader-style batching): under concurrency a read costs a fraction of a round trip,
 * and alone it goes out at once, with no added wait. Each caller's answer comes from a query that
 * started after its call, so a read never sees less than what was committed before it was made.
 */
export class ReadBatcher<K, V> {
  private queue: { key: K; resolve: (v: V) => void; reject: (e: unknown) => void }[] = [];
  private inFlight = 0;

  constructor(
    /** Answers each key, in the order given. */
    private readonly load: (keys: readonly K[]) => Promise<readonly V[]>,
    private readonly maxInFlight = 2,
    private readonly maxBatch = 500,
  ) {}

  get(key: K): Promise<V> {
    return new Promise<V>((resolve, reject) => {
      this.queue.push({ key, resolve, reject });
      if (this.inFlight < this.maxInFlight) this.next();
    });
  }

  private next(): void {
    const batch = this.queue.splice(0, this.maxBatch);
    if (batch.length === 0) return;
    this.inFlight++;
    let loading: Promise<readonly V[]>;
    try {
      loading = this.load(batch.map((b) => b.key));
    } catch (error) {
      loading = Promise.reject(error);
    }
    loading
      .then(
        (values) => batch.forEach((b, i) => b.resolve(values[i]!)),
        (error: unknown) => batch.forEach((b) => b.reject(error)),
      )
      .finally(() => {
        this.inFlight--;
        this.next();
      });
  }
}
