import { DomainError, ErrorKind } from '../../domain/index.js';
import { comparePositions, type EventStore, type GlobalPosition, type RecordedEvent } from '../ports/event-store.js';
import type { ProjectionStore, ReadModelChange } from '../ports/read-model.js';

export interface ProjectionRunnerOptions {
  readonly handler: (event: RecordedEvent) => readonly ReadModelChange[];
  readonly streamPrefixes?: readonly string[];
  /** First delay before resubscribing after the feed fails; doubles up to maxBackoffMs. */
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
  readonly onError?: (error: unknown) => void;
}

interface Waiter {
  readonly position: GlobalPosition;
  readonly resolve: () => void;
}

/**
 * Runs a projection: catches up from the read model's checkpoint, then follows live events, one at
 * a time. If the feed fails it resubscribes from the checkpoint with exponential backoff. Callers
 * can wait until a position has been processed, and rebuild the read model from zero.
 */
export class ProjectionRunner {
  private processed: GlobalPosition | undefined;
  private waiters: Waiter[] = [];
  private abort: AbortController | undefined;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly events: EventStore,
    private readonly target: ProjectionStore,
    private readonly options: ProjectionRunnerOptions,
  ) {}

  get running(): boolean {
    return this.loop !== undefined;
  }

  /** The last position this runner has processed (or found in the checkpoint). */
  get position(): GlobalPosition | undefined {
    return this.processed;
  }

  start(): void {
    if (this.loop) return;
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

  /** Empties the read model and replays every event into it; resolves once it has caught up. */
  async rebuild(): Promise<void> {
    const wasRunning = this.running;
    await this.stop();
    await this.target.reset();
    this.processed = undefined;
    const head = await this.events.headPosition();
    this.start();
    if (head) await this.waitFor(head, 60_000);
    if (!wasRunning) await this.stop();
  }

  /** Resolves once the projection has processed `position`; rejects with Unavailable after the timeout. */
  waitFor(position: GlobalPosition, timeoutMs: number): Promise<void> {
    if (this.processed && comparePositions(this.processed, position) >= 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(
          new DomainError(ErrorKind.Unavailable, 'PROJ-wait-7t2k', 'Errors.Projection.Timeout', 'the read model did not catch up in time'),
        );
      }, timeoutMs);
      const waiter: Waiter = {
        position,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      this.waiters.push(waiter);
    });
  }

  private advance(position: GlobalPosition): void {
    if (this.processed && comparePositions(position, this.processed) <= 0) return;
    this.processed = position;
    const ready = this.waiters.filter((w) => comparePositions(position, w.position) >= 0);
    if (ready.length === 0) return;
    this.waiters = this.waiters.filter((w) => comparePositions(position, w.position) < 0);
    for (const w of ready) w.resolve();
  }

  private async run(signal: AbortSignal): Promise<void> {
    const initial = this.options.initialBackoffMs ?? 50;
    const max = this.options.maxBackoffMs ?? 5_000;
    let backoff = initial;
    while (!signal.aborted) {
      try {
        const after = await this.target.checkpoint();
        if (after) this.advance(after);
        const feed = this.events.subscribeToAll({
          ...(after ? { after } : {}),
          ...(this.options.streamPrefixes ? { streamPrefixes: this.options.streamPrefixes } : {}),
          signal,
        });
        for await (const item of feed) {
          if (signal.aborted) return;
          if (item.kind === 'event') {
            const changes = this.options.handler(item.event);
            if (changes.length > 0) await this.target.apply(changes, item.event.position);
            else await this.target.saveCheckpoint(item.event.position);
            this.advance(item.event.position);
            backoff = initial;
          } else if (item.kind === 'checkpoint') {
            await this.target.saveCheckpoint(item.position);
            this.advance(item.position);
          }
        }
        if (signal.aborted) return;
        // The feed ended without being asked to: treat it like a drop and resubscribe.
      } catch (error) {
        if (signal.aborted) return;
        this.options.onError?.(error);
      }
      await sleep(backoff, signal);
      backoff = Math.min(backoff * 2, max);
    }
  }
}

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
