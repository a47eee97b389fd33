import type { GlobalPosition, RecordedEvent, SubscribeOptions, SubscriptionItem } from '../../application/index.js';

/**
 * How many hand-overs of appended events (LogFollower.offer) are kept for subscriptions to take, and
 * how many events they may hold together (the newest is always kept): a subscription further behind
 * reads the log.
 */
const OFFERED_BATCHES_KEPT = 64;
const OFFERED_EVENTS_KEPT = 4_096;

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
  /** How many times notify was called without a position: a follower that was busy when it came reads again at once. */
  private notifications = 0;
  /** The highest position announced by notify(upTo): a follower at or past it has nothing new to read. */
  private announced = 0n;
  /** Appends this process made, by the head each started after (see offer); the oldest go first. */
  private readonly tail = new Map<bigint, readonly LogEntry[]>();
  private tailEvents = 0;

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
      // Once caught up, an append of this process that started exactly here is taken as handed over.
      const entries = (caughtUp && this.tail.get(after)) || (await this.page(after, this.pageSize));
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
      // Wait for something new. An append notified while this page was read or its events were being
      // handled found nobody waiting: read again now rather than at the next append or the poll
      // interval. An announcement of positions this follower has already passed (its own append,
      // handed over by offer) changes nothing: it waits on without a read.
      while (
        this.notifications === notified &&
        this.announced <= after &&
        !(caughtUp && this.tail.has(after)) &&
        !signal?.aborted &&
        this.dropGeneration === generation &&
        (await this.waitForAppend(signal)) === 'woken'
      );
    }
  }

  /**
   * Something was appended: every waiting subscription reads again now. With `upTo`, the last
   * position of what was appended: a subscription already at or past it goes on waiting.
   */
  notify(upTo?: bigint): void {
    if (upTo === undefined) this.notifications++;
    else if (upTo > this.announced) this.announced = upTo;
    const wake = [...this.wake];
    this.wake.clear();
    for (const w of wake) w();
  }

  /**
   * Hands over what this process has just appended: `entries`, in position order, are every event
   * after position `after` up to the last of them, with none missing (the store knows this because
   * its append held the log's lock from reading the head `after` until it committed). A subscription
   * standing exactly at `after` takes them instead of reading the log; one anywhere else reads as
   * always. The newest hand-overs are kept for subscriptions that come later, up to
   * OFFERED_BATCHES_KEPT of them and OFFERED_EVENTS_KEPT events.
   */
  offer(after: bigint, entries: readonly LogEntry[]): void {
    if (entries.length === 0) return;
    this.tailEvents += entries.length - (this.tail.get(after)?.length ?? 0);
    this.tail.delete(after);
    this.tail.set(after, entries);
    for (const [key, kept] of this.tail) {
      if (this.tail.size === 1 || (this.tail.size <= OFFERED_BATCHES_KEPT && this.tailEvents <= OFFERED_EVENTS_KEPT)) break;
      this.tail.delete(key);
      this.tailEvents -= kept.length;
    }
    this.notify(entries[entries.length - 1]!.position);
  }

  /** Makes every open subscription fail with `error`, the way a dropped connection does. */
  drop(error: Error): void {
    this.dropError = error;
    this.dropGeneration++;
    this.notify();
  }

  /** Resolves 'woken' on notify, 'timeout' after the poll interval (read anyway: the fallback), 'aborted' on abort. */
  private waitForAppend(signal: AbortSignal | undefined): Promise<'woken' | 'timeout' | 'aborted'> {
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve('aborted');
      const finish = (why: 'woken' | 'timeout' | 'aborted') => {
        clearTimeout(timer);
        this.wake.delete(woken);
        signal?.removeEventListener('abort', aborted);
        resolve(why);
      };
      const woken = () => finish('woken');
      const aborted = () => finish('aborted');
      const timer = setTimeout(() => finish('timeout'), this.pollIntervalMs);
      this.wake.add(woken);
      signal?.addEventListener('abort', aborted, { once: true });
    });
  }
}
