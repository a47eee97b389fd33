import type { GlobalPosition, RecordedEvent, SubscribeOptions, SubscriptionItem } from '../../application/index.js';

/** One row of the event log as a SQL store reads it, already mapped. */
export interface LogEntry {
  readonly position: bigint;
  readonly event: () => RecordedEvent;
  readonly streamId: string;
}

/**
 * The subscription loop both SQL stores share: read the log in pages after a position, say when it
 * has caught up, then wait for a wake-up (an append in this process, a notification from another)
 * or the poll interval, and read again. Positions in these stores are single integers
 * (commit = prepare) that commit in order, so "after the last position seen" never skips one.
 */
export class LogFollower {
  private readonly wake = new Set<() => void>();
  private dropError: Error | undefined;
  private dropGeneration = 0;
  /** How many times notify was called: a follower that was busy when it came reads again at once. */
  private notifications = 0;

  constructor(
    /** Reads up to `limit` entries after `after`, in position order. */
    private readonly page: (after: bigint, limit: number) => readonly LogEntry[] | Promise<readonly LogEntry[]>,
    private readonly pollIntervalMs: number,
    private readonly pageSize = 500,
  ) {}

  async *follow(options: SubscribeOptions = {}): AsyncIterable<SubscriptionItem> {
    const { signal, streamPrefixes } = options;
    let after = options.after?.commit ?? 0n;
    let caughtUp = false;
    const generation = this.dropGeneration;
    const accepts = (streamId: string) => !streamId.startsWith('$') && (!streamPrefixes || streamPrefixes.some((p) => streamId.startsWith(p)));
    while (!signal?.aborted) {
      if (this.dropGeneration !== generation) throw this.dropError ?? new Error('subscription dropped');
      const notified = this.notifications;
      const entries = await this.page(after, this.pageSize);
      let skipped: GlobalPosition | undefined;
      for (const entry of entries) {
        after = entry.position;
        if (accepts(entry.streamId)) {
          if (skipped) yield { kind: 'checkpoint', position: skipped };
          skipped = undefined;
          yield { kind: 'event', event: entry.event() };
          if (signal?.aborted || this.dropGeneration !== generation) break;
        } else {
          skipped = { commit: entry.position, prepare: entry.position };
        }
      }
      if (skipped) yield { kind: 'checkpoint', position: skipped };
      if (entries.length === this.pageSize || signal?.aborted || this.dropGeneration !== generation) continue;
      if (!caughtUp) {
        caughtUp = true;
        yield { kind: 'caught-up' };
      }
      // An append notified while this page was read or its events were being handled found nobody
      // waiting: read again now rather than at the next append or the poll interval.
      if (this.notifications !== notified) continue;
      await this.waitForAppend(signal);
    }
  }

  /** Something was appended: every waiting subscription reads again now. */
  notify(): void {
    this.notifications++;
    const wake = [...this.wake];
    this.wake.clear();
    for (const w of wake) w();
  }

  /** Makes every open subscription fail with `error`, the way a dropped connection does. */
  drop(error: Error): void {
    this.dropError = error;
    this.dropGeneration++;
    this.notify();
  }

  private waitForAppend(signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const done = () => {
        clearTimeout(timer);
        this.wake.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, this.pollIntervalMs);
      this.wake.add(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }
}
