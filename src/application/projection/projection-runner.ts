import { DomainError, ErrorKind, isDomainError } from '../../domain/index.js';
import { comparePositions, SubscriptionRefusedError, type EventStore, type GlobalPosition, type RecordedEvent } from '../ports/event-store.js';
import { PositionWaiters } from './position-waiters.js';
import type { Positioned, ProjectionTarget, ReadModelChange } from '../ports/read-model.js';

export interface ProjectionRunnerOptions<C = ReadModelChange> {
  /**
   * Pure: one event in, the changes out. If it throws a DomainError (a malformed payload, say:
   * `EVENT-DEC-7m3q`), the runner applies everything before that event and stops, with the error in
   * `failure`, instead of skipping it or trying again. Other errors are retried like a dropped feed.
   */
  readonly handler: (event: RecordedEvent) => readonly C[];
  readonly streamPrefixes?: readonly string[];
  /** First delay before resubscribing after the feed fails; doubles up to maxBackoffMs. */
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
  readonly onError?: (error: unknown) => void;
  /** Most events applied in one transaction while catching up (default 500). */
  readonly maxBatchSize?: number;
  /**
   * Told after every applied batch: the position reached and how many events the batch held (for
   * progress; the feed's checkpoints, which stand for events outside `streamPrefixes`, are not
   * events of the projection's and are not counted). Awaited: a tool can yield here, so that timers and signals get their turn while a
   * synchronous store catches up.
   */
  readonly onApplied?: (position: GlobalPosition, entries: number) => void | Promise<void>;
}

/** The handler failed on an event: replaying it again would fail again, so the runner stops. */
class HandlerFailed {
  constructor(readonly error: unknown) {}
}


/**
 * Runs a projection, any projection: the handler decides changes of its own type `C` and the target
 * keeps them with a checkpoint (the SMTP read model is one such target, an audit log another).
 * It catches up from the read model's checkpoint, then follows live events. Events
 * are applied in batches, one atomic step each: up to `maxBatchSize` while catching up, and live,
 * whatever has arrived by the time the feed has nothing more ready (so a burst of appends costs
 * one transaction, and a single event is applied at once). If the feed fails it resubscribes from
 * the checkpoint with exponential backoff, unless the feed says that cannot help
 * ({@link SubscriptionRefusedError}), or the handler refused an event (a DomainError): then it stops. Callers can wait until a position has been
 * processed, or until the feed has caught up, and rebuild the read model from zero.
 */
export class ProjectionRunner<C = ReadModelChange> {
  private failed: unknown;
  private processed: GlobalPosition | undefined;
  /** Up to where the target is known to be written by an inline projection (see `reached`). */
  private reachedElsewhere: GlobalPosition | undefined;
  /** The log's head when the target was last reset: reports at or below it describe rows that are gone. */
  private reachedFloor: GlobalPosition | undefined;
  private readonly waiters = new PositionWaiters();
  private abort: AbortController | undefined;
  private loop: Promise<void> | undefined;
  private caughtUp = false;
  private caughtUpWaiters: { resolve: () => void; reject: (error: unknown) => void }[] = [];

  constructor(
    private readonly events: EventStore,
    private readonly target: ProjectionTarget<C>,
    private readonly options: ProjectionRunnerOptions<C>,
  ) {}

  /** Why the runner stopped by itself (the handler's error, or the feed's refusal); undefined while it runs. */
  get failure(): unknown {
    return this.failed;
  }

  get running(): boolean {
    return this.loop !== undefined;
  }

  /** The last position this runner has processed (or found in the checkpoint). */
  get position(): GlobalPosition | undefined {
    return this.processed;
  }

  start(): void {
    if (this.loop) return;
    this.caughtUp = false;
    this.failed = undefined;
    const abort = new AbortController();
    this.abort = abort;
    this.loop = this.run(abort.signal).finally(() => {
      if (this.abort === abort) {
        this.loop = undefined;
        this.abort = undefined;
      }
    });
  }

  async stop(): Promise<void> {
    const loop = this.loop;
    this.abort?.abort();
    this.loop = undefined;
    this.abort = undefined;
    await loop;
  }

  /** How many waitFor calls are still pending (neither reached nor timed out). */
  get pendingWaits(): number {
    return this.waiters.size;
  }

  /**
   * Empties the target in place and replays every event into it; resolves once it has caught up.
   * (The operator's `smtp-config projection rebuild` builds into a shadow instead, while the live
   * read model keeps serving.)
   */
  async rebuild(timeoutMs = 60_000): Promise<void> {
    if (!this.target.reset) throw new TypeError('this projection target cannot be reset');
    const wasRunning = this.running;
    await this.stop();
    await this.target.reset();
    // What was projected inline before the reset is gone with it: from now on only appends after
    // the head as it is now count (a report of an earlier one may still be on its way).
    const floor = await this.events.headPosition();
    this.processed = undefined;
    this.reachedElsewhere = undefined;
    this.reachedFloor = floor;
    this.start();
    try {
      await this.waitForCaughtUp(timeoutMs);
    } finally {
      if (!wasRunning) await this.stop();
    }
  }

  /** Whether the projection has processed `position` already (so that {@link waitFor} would resolve at once). */
  hasProcessed(position: GlobalPosition): boolean {
    return (
      (this.processed !== undefined && comparePositions(this.processed, position) >= 0) ||
      (this.reachedElsewhere !== undefined && comparePositions(this.reachedElsewhere, position) >= 0)
    );
  }

  /** Resolves once the projection has processed `position`; rejects with Unavailable after the timeout. */
  waitFor(position: GlobalPosition, timeoutMs: number): Promise<void> {
    if (this.hasProcessed(position)) return Promise.resolve();
    return this.waiters.add(position, timeoutMs);
  }

  /**
   * The target is known to hold everything up to `position`, written by someone else: an inline
   * projection in the append's own transaction. Releases the waits up to it, and the runner, when the
   * feed brings those events, neither decides their changes nor hands them to the target again.
   * Reports of appends from before the last {@link rebuild} are ignored (the reset took their rows).
   */
  reached(position: GlobalPosition): void {
    if (this.reachedFloor && comparePositions(position, this.reachedFloor) <= 0) return;
    if (this.reachedElsewhere && comparePositions(position, this.reachedElsewhere) <= 0) return;
    this.reachedElsewhere = position;
    this.waiters.releaseUpTo(position);
  }

  /**
   * Resolves once the feed has said it caught up (delivered everything that existed when this
   * runner started following it) and everything before that is applied: what the projection itself
   * follows, so it needs no checkpoint past events it never receives. Rejects with Unavailable
   * after the timeout, or with the feed's refusal if the runner stopped on one.
   */
  waitForCaughtUp(timeoutMs: number): Promise<void> {
    if (this.caughtUp) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.caughtUpWaiters = this.caughtUpWaiters.filter((w) => w !== waiter);
        reject(new DomainError(ErrorKind.Unavailable, 'PROJ-wait-7t2k', 'Errors.Projection.Timeout', 'the read model did not catch up in time'));
      }, timeoutMs);
      const waiter = {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (error: unknown) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      this.caughtUpWaiters.push(waiter);
    });
  }

  private settleCaughtUp(error?: unknown): void {
    if (!error) this.caughtUp = true;
    const waiters = this.caughtUpWaiters;
    this.caughtUpWaiters = [];
    for (const w of waiters) (error ? w.reject(error) : w.resolve());
  }

  private advance(position: GlobalPosition): void {
    if (this.processed && comparePositions(position, this.processed) <= 0) return;
    this.processed = position;
    this.waiters.releaseUpTo(position);
  }

  private async run(signal: AbortSignal): Promise<void> {
    const initial = this.options.initialBackoffMs ?? 50;
    const max = this.options.maxBackoffMs ?? 5_000;
    let backoff = initial;
    while (!signal.aborted) {
      try {
        if (await this.follow(signal, () => (backoff = initial))) return;
        // The feed ended without being asked to: treat it like a drop and resubscribe.
      } catch (caught) {
        if (signal.aborted) return;
        const error = caught instanceof HandlerFailed ? caught.error : caught;
        this.options.onError?.(error);
        if (caught instanceof HandlerFailed || error instanceof SubscriptionRefusedError) {
          this.failed = error;
          return this.settleCaughtUp(error);
        }
      }
      await sleep(backoff, signal);
      backoff = Math.min(backoff * 2, max);
    }
  }

  /** One subscription from the checkpoint; resolves true when stopped, false when the feed ended. */
  private async follow(signal: AbortSignal, onEvent: () => void): Promise<boolean> {
    const after = await this.target.checkpoint();
    if (after) this.advance(after);
    // A signal of its own, so that leaving this subscription (on an error too) always ends it.
    // (Linked by hand: Node 20's AbortSignal.any can lose its listeners to garbage collection.)
    const own = new AbortController();
    const stop = () => own.abort();
    signal.addEventListener('abort', stop, { once: true });
    const feed = this.events.subscribeToAll({
      ...(after ? { after } : {}),
      ...(this.options.streamPrefixes ? { streamPrefixes: this.options.streamPrefixes } : {}),
      signal: own.signal,
    });
    const iterator = feed[Symbol.asyncIterator]();
    const maxBatch = this.options.maxBatchSize ?? 500;
    let batch: Positioned<C>[] = [];
    /** How many of `batch`'s entries are events (the others are the feed's checkpoints). */
    let batchEvents = 0;
    // The batch being applied, if any (it never rejects: a failure is kept in `failure`). A flush
    // can start while the loop waits for the feed (see `arm`), so flushes chain on it, in order.
    let inFlight: Promise<void> | undefined;
    let failure: { error: unknown } | undefined;
    const apply = async (entries: Positioned<C>[], events: number, previous: Promise<void> | undefined): Promise<void> => {
      if (previous) await previous;
      if (failure) return;
      try {
        // The highest position in the batch: a feed may send a checkpoint that sorts just before an
        // event it has already delivered (EventStoreDB's checkpoints carry prepare 0).
        let top = entries[0]!.position;
        for (let i = 1; i < entries.length; i++) if (comparePositions(entries[i]!.position, top) > 0) top = entries[i]!.position;
        // All written inline already: nothing for the target to do. (Entries the handler skipped for
        // that reason carry no changes; in a batch that also holds newer ones, the target skips them
        // by its checkpoint, which the inline projection moved past them.)
        if (!this.reachedElsewhere || comparePositions(top, this.reachedElsewhere) > 0) await this.target.applyBatch(entries);
        this.advance(top);
        await this.options.onApplied?.(top, events);
      } catch (error) {
        failure = { error };
        // Wakes the loop if it is waiting for the feed, so that it fails and resubscribes.
        own.abort();
      }
    };
    /** Starts applying the batch after the one in flight; returns the one it follows. */
    const startApply = (): Promise<void> | undefined => {
      const previous = inFlight;
      const applying = apply(batch, batchEvents, previous);
      batch = [];
      batchEvents = 0;
      inFlight = applying;
      void applying.then(() => {
        if (inFlight === applying) inFlight = undefined;
      });
      return previous;
    };
    const flush = async (): Promise<void> => {
      if (batch.length > 0) startApply();
      if (inFlight) await inFlight;
      if (failure) throw failure.error;
    };
    // A full batch while catching up: it is applied while the feed reads and decides the next one,
    // and the loop waits only for the batch before it (so at most two are held, and they are
    // applied in order). Reading the log and writing the read model then overlap.
    const flushFull = async (): Promise<void> => {
      const previous = startApply();
      if (previous) await previous;
      if (failure) throw failure.error;
    };
    // When the feed has nothing more ready, the batch is applied at once, by a check armed once per
    // batch, not per event (a race per event cost more than the event). While catching up the check
    // is the event loop's next turn, so that a store reading pages without I/O fills whole batches;
    // while following live, it is a few microtasks without a new event, so that a command waiting
    // for its own event does not wait for a turn of the event loop.
    let live = false;
    let immediateArmed = false;
    let probing = false;
    let quiet = 0;
    const idleFlush = () => {
      if (batch.length > 0 && !signal.aborted) void flush().catch(() => undefined);
    };
    const onImmediate = () => {
      immediateArmed = false;
      idleFlush();
    };
    const probe = () => {
      if (batch.length === 0 || ++quiet >= LIVE_QUIET_MICROTASKS) {
        probing = false;
        idleFlush();
      } else {
        queueMicrotask(probe);
      }
    };
    const arm = () => {
      if (live) {
        quiet = 0;
        if (!probing) {
          probing = true;
          queueMicrotask(probe);
        }
      } else if (!immediateArmed) {
        immediateArmed = true;
        setImmediate(onImmediate);
      }
    };
    try {
      while (!signal.aborted) {
        const result = await iterator.next();
        if (signal.aborted) return true;
        if (failure) throw failure.error;
        if (result.done) break;
        const item = result.value;
        if (item.kind !== 'caught-up') {
          const position = item.kind === 'event' ? item.event.position : item.position;
          const inline = this.reachedElsewhere !== undefined && comparePositions(position, this.reachedElsewhere) <= 0;
          // Written inline already, with nothing of the feed's before it still to apply: the
          // position is reached, and there is nothing to decide, batch or hand to the target.
          if (inline && batch.length === 0 && !inFlight) {
            this.advance(position);
            if (item.kind === 'event') onEvent();
            continue;
          }
          if (item.kind === 'checkpoint') {
            batch.push({ changes: [], position });
            arm();
          } else {
            let changes: readonly C[];
            try {
              changes = inline ? [] : this.options.handler(item.event);
            } catch (error) {
              if (!isDomainError(error)) throw error;
              // Keep what came before it: the checkpoint then names the last good event.
              await flush();
              throw new HandlerFailed(error);
            }
            batch.push({ changes, position });
            batchEvents++;
            onEvent();
            arm();
          }
        } else {
          await flush();
          this.settleCaughtUp();
          live = true;
        }
        if (batch.length >= maxBatch) await flushFull();
      }
      if (signal.aborted) return true;
      await flush();
      return false;
    } catch (error) {
      // A flush that failed while the loop waited for the feed aborted the feed: report its error.
      throw failure && !(error instanceof HandlerFailed) ? failure.error : error;
    } finally {
      signal.removeEventListener('abort', stop);
      own.abort();
      void iterator.return?.()?.catch(() => undefined);
      // Stopping returns only once no batch is being applied any more.
      if (inFlight) await inFlight;
    }
  }
}

/**
 * Microtasks without a new event after which a live batch is applied: a feed with events at hand
 * delivers the next one within two or three.
 */
const LIVE_QUIET_MICROTASKS = 8;

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
